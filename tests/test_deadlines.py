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
