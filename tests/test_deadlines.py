"""Working days follow the Algemene termijnenwet, not a generic holiday list."""

from datetime import date

import pytest

from stagepact.deadlines import add_working_days, dutch_holidays, easter_sunday, is_working_day


@pytest.mark.parametrize(
    "year, easter",
    [
        (2024, date(2024, 3, 31)),
        (2025, date(2025, 4, 20)),
        (2026, date(2026, 4, 5)),
        (2027, date(2027, 3, 28)),
    ],
)
def test_easter_is_computed_correctly(year, easter):
    assert easter_sunday(year) == easter


def test_good_friday_is_a_working_day_but_easter_monday_is_not():
    assert is_working_day(date(2026, 4, 3))
    assert not is_working_day(date(2026, 4, 6))


def test_liberation_day_counts_every_year_not_only_in_lustrum_years():
    assert not is_working_day(date(2026, 5, 5))
    assert not is_working_day(date(2027, 5, 5))


def test_kings_day_moves_to_saturday_when_the_27th_is_a_sunday():
    assert date(2025, 4, 26) in dutch_holidays(2025)
    assert date(2025, 4, 27) not in dutch_holidays(2025)


def test_ascension_and_whit_monday_are_skipped():
    # Wednesday 13 May 2026: Ascension (14th) is skipped, then Friday, then Monday...
    assert add_working_days(date(2026, 5, 13), 2) == date(2026, 5, 18)
    # Friday 22 May 2026: Whit Monday (25th) is skipped.
    assert add_working_days(date(2026, 5, 22), 1) == date(2026, 5, 26)


def test_the_deadline_rule_reads_the_same_in_python_and_in_sql(app):
    """Case.ack_overdue & co. are written once, as hybrids: the inbox badge (Python), the
    inbox filter, the reminders and the statistics (SQL) can never disagree."""
    import itertools
    from datetime import datetime, timedelta

    import sqlalchemy as sa

    from stagepact.extensions import db
    from stagepact.models import Case
    from stagepact.vocab import Outcome, Status
    from tests.factories import make_case, make_institution

    today = date(2026, 3, 10)
    institution = make_institution()
    cases = []
    for status, ack_due, feedback_due, fed_back in itertools.product(
        list(Status),
        [today - timedelta(days=1), today, today + timedelta(days=1)],
        [None, today - timedelta(days=1), today + timedelta(days=1)],
        [False, True],
    ):
        case, _code = make_case(institution)
        case.status = status  # every status, without the workflow's steps in between
        if status != Status.NEW:
            case.acknowledged_at = datetime(2026, 3, 2, 12)
        if status == Status.CLOSED:
            case.closed_at, case.outcome = datetime(2026, 3, 5, 12), Outcome.RESOLVED
        case.ack_due_on, case.feedback_due_on = ack_due, feedback_due
        case.feedback_at = datetime(2026, 3, 1, 12) if fed_back else None
        cases.append(case)
    db.session.commit()

    rules = ["ack_overdue", "feedback_overdue", "is_overdue", "ack_fell_due", "feedback_fell_due"]
    for rule in rules:
        in_python = {c.id for c in cases if getattr(c, rule)(today)}
        in_sql = set(db.session.scalars(sa.select(Case.id).where(getattr(Case, rule)(today))))
        assert in_python == in_sql, rule
        assert 0 < len(in_python) < len(cases), f"{rule} separates the cases"
    for rule in ("ack_running", "feedback_running"):
        in_python = {c.id for c in cases if getattr(c, rule)()}
        in_sql = set(db.session.scalars(sa.select(Case.id).where(getattr(Case, rule)())))
        assert in_python == in_sql, rule
