"""A handler who is away or disabled holds no case alone (issue 15): they or an admin set
the days they are away; meanwhile the reminders of their cases go to their colleagues,
and the inbox says those cases need another handler."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from stagepact import accounts, workflow
from stagepact.deadlines import add_working_days, today
from stagepact.extensions import db
from stagepact.models import OutboxMail, User
from stagepact.reminders import queue_due_reminders, queue_overdue_reminders
from stagepact.vocab import Role
from tests.factories import make_case, make_institution, make_user
from tests.helpers import audit_events, field_error, page_text, reloaded

NEEDS = "Andere behandelaar nodig"


@pytest.fixture
def team():
    institution = make_institution()
    away, colleague = make_user(Role.HANDLER, institution), make_user(Role.HANDLER, institution)
    admin = make_user(Role.INSTITUTION_ADMIN, institution)
    case, _code = make_case(institution)
    workflow.acknowledge(case, away)  # assigned to them
    db.session.commit()
    return institution, away, colleague, admin, case


def _recipients(purpose_end: str) -> list[str]:
    return sorted(
        m.recipient
        for m in db.session.scalars(sa.select(OutboxMail))
        if m.purpose.endswith(purpose_end)
    )


def test_a_handler_marks_themselves_away_and_back(client, auth, team):
    _institution, away, _colleague, _admin, _case = team
    auth.login(away)
    until = today() + timedelta(days=14)

    response = client.post("/account/afwezig", data={"away-away_until": until.isoformat()})

    assert response.status_code == 302
    assert reloaded(away).is_away(today())
    assert "Je staat als afwezig tot en met" in page_text(client.get("/account"))
    [event] = audit_events("user.away_changed")
    assert f'"user_id": {away.id}' in event.details and '"away": true' in event.details
    assert until.isoformat() not in event.details  # that they are away, not when

    assert client.post("/account/afwezig", data={}).status_code == 302
    assert not reloaded(away).is_away(today())


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"away-away_until": "2020-01-01"},
            "away-away_until",
            "Kies als laatste dag vandaag of later.",
        ),
        (
            {"away-away_from": "2099-02-01", "away-away_until": "2099-01-01"},
            "away-away_from",
            "De eerste dag ligt na de laatste dag.",
        ),
        ({"away-away_from": "2099-02-01"}, "away-away_until", "Vul ook de laatste dag in."),
        (
            {"away-away_until": "1850-01-01"},
            "away-away_until",
            "Kies een datum tussen 2000 en 2100.",
        ),
    ],
)
def test_a_bad_absence_is_refused_beside_the_field(client, auth, team, data, field, message):
    _institution, away, _colleague, _admin, _case = team
    auth.login(away)

    response = client.post("/account/afwezig", data=data)

    assert response.status_code == 422
    assert field_error(page_text(response), field) == message
    assert not reloaded(away).is_away(today())


def test_only_a_handler_has_an_absence_of_their_own(client, auth):
    auth.login(make_user(Role.MONITOR))
    response = client.post("/account/afwezig", data={"away-away_until": "2099-01-01"})
    assert response.status_code == 404


def test_an_admin_marks_a_handler_of_their_own_institution_away(client, auth, team):
    _institution, away, _colleague, admin, _case = team
    stranger = make_user(Role.HANDLER, make_institution())
    db.session.commit()
    auth.login(admin)
    until = (today() + timedelta(days=3)).isoformat()

    assert "Afwezigheid" in page_text(client.get("/organisatie/medewerkers"))
    refused = client.post(
        f"/organisatie/medewerkers/{away.id}/afwezig", data={"away_until": "2020-01-01"}
    )
    assert refused.status_code == 422
    assert field_error(page_text(refused), "away_until") == "Kies als laatste dag vandaag of later."

    saved = client.post(f"/organisatie/medewerkers/{away.id}/afwezig", data={"away_until": until})
    assert saved.status_code == 302
    assert reloaded(away).is_away(today())
    assert "afwezig tot en met" in page_text(client.get("/organisatie/medewerkers"))
    other = client.post(
        f"/organisatie/medewerkers/{stranger.id}/afwezig", data={"away_until": until}
    )
    assert other.status_code == 404
    assert not reloaded(stranger).is_away(today())


def test_while_the_assignee_is_away_reminders_go_to_the_colleagues(team):
    _institution, away, colleague, _admin, case = team
    case.feedback_due_on = today() + timedelta(days=3)
    accounts.set_away(away, None, today() + timedelta(days=10), away, today())
    db.session.commit()

    assert queue_due_reminders(today()) == 1
    assert _recipients("feedback_reminder") == [colleague.email]

    accounts.set_away(away, None, None, away, today())
    case.feedback_due_on = today() - timedelta(days=1)
    db.session.commit()
    assert queue_overdue_reminders(add_working_days(today(), 1)) == 1
    assert _recipients("feedback_overdue") == [away.email]  # back: theirs again


def test_the_inbox_says_a_case_of_an_absent_or_disabled_handler_needs_another(client, auth, team):
    _institution, away, colleague, admin, case = team
    auth.login(colleague)
    assert NEEDS not in page_text(client.get("/behandelen/"))

    accounts.set_away(away, None, today(), admin, today())
    db.session.commit()
    assert NEEDS in page_text(client.get("/behandelen/"))

    accounts.set_away(away, None, None, admin, today())
    accounts.disable(away, admin)
    db.session.commit()
    assert NEEDS in page_text(client.get("/behandelen/"))
    assert _recipients("student_activity") == []
    workflow.student_message(reloaded(case), "Is er al nieuws?")
    db.session.commit()
    assert _recipients("student_activity") == [colleague.email]


def test_an_absence_that_ended_leaves_the_handler_in_charge(team):
    _institution, away, _colleague, _admin, case = team
    away.away_from, away.away_until = today() - timedelta(days=10), today() - timedelta(days=1)
    db.session.commit()

    assert not db.session.get(User, away.id).is_away(today())
    assert not reloaded(case).needs_new_handler(today())
    assert (
        db.session.scalar(sa.select(sa.func.count()).select_from(User).where(User.is_away(today())))
        == 0
    )


# --- The institution admin's follow-up overview ------------------------------------------


def test_the_admin_sees_the_follow_up_at_a_glance_in_counts_only(client, auth, team):
    institution, away, colleague, admin, case = team
    late, _code = make_case(institution, narrative="GEHEIM-VERHAAL")
    late.ack_due_on = today() - timedelta(days=3)
    late.submitted_at = late.submitted_at - timedelta(days=9)
    other_school = make_case(make_institution())[0]
    other_school.ack_due_on = today() - timedelta(days=3)
    accounts.disable(away, admin)
    db.session.commit()
    auth.login(admin)

    page = page_text(client.get("/organisatie/opvolging"))

    facts = dict(re.findall(r"<dt>([^<]+)</dt><dd>(.*?)</dd>", page))
    assert re.sub(r"<[^>]+>", "", facts["Open meldingen"]) == "2"
    assert facts["Nog niet bevestigd"].startswith("1 (de oudste kwam binnen op")
    assert re.sub(r"<[^>]+>", "", facts["Bevestiging te laat"]) == "1"
    assert facts["Open en aan niemand toegewezen"] == "1"
    rows = re.findall(r'<th scope="row">([^<]+)</th>\s*<td>(\d+)</td>', page)
    assert dict(rows) == {away.name: "1", colleague.name: "0"}
    assert "uitgeschakeld" in page
    assert "GEHEIM" not in page and case.number not in page


def test_only_an_institution_admin_has_the_follow_up_overview(client, auth, team):
    _institution, away, _colleague, _admin, _case = team
    auth.login(away)
    assert client.get("/organisatie/opvolging").status_code == 404
