"""The student's follow-up session ends on the server: closing it on this device,
withdrawing the report and asking for erasure end it, and so do inactivity and an
absolute lifetime. A copy of the cookie (another browser, another person) then opens
nothing."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from stagepact import follow_up_sessions, retention, workflow
from stagepact.extensions import db
from stagepact.models import Case, FollowUpSession
from stagepact.vocab import Outcome, Role
from tests.factories import make_case, make_institution, make_user
from tests.helpers import count

CASE_URL = "/volgen/melding"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _open_case(app, code: str):
    """A student's browser that typed the code."""
    db.session.commit()
    browser = app.test_client()
    assert browser.post("/volgen", data={"code": code}).status_code == 302
    assert browser.get(CASE_URL).status_code == 200
    return browser


def _copy(app, browser):
    """A second browser holding a copy of the first one's session cookie."""
    name, domain = app.config["SESSION_COOKIE_NAME"], app.config["SERVER_NAME"]
    copy = app.test_client()
    copy.set_cookie(name, browser.get_cookie(name, domain=domain).value, domain=domain)
    return copy


def _opens_the_case(browser) -> bool:
    response = browser.get(CASE_URL)
    if response.status_code == 302:
        assert response.headers["Location"] == "/volgen"
        return False
    assert response.status_code == 200
    return True


@pytest.fixture
def open_case(app):
    """A case in progress, its code, and a browser with the case open plus a copy of its cookie."""
    institution = make_institution()
    handler = make_user(Role.HANDLER, institution)
    case, code = make_case(institution)
    workflow.acknowledge(case, handler)
    workflow.start_follow_up(case, handler)
    student = _open_case(app, code)
    copy = _copy(app, student)
    assert _opens_the_case(copy)  # the copy works as long as the session lives
    return case, code, handler, student, copy


def test_the_cookie_holds_a_random_id_and_the_server_only_its_hash(app, open_case):
    case, _code, _handler, student, _copy_browser = open_case
    with student.session_transaction() as session:
        session_id = session["follow_up"]
    assert isinstance(session_id, str) and len(session_id) >= 40
    row = db.session.scalar(sa.select(FollowUpSession))
    assert row.id_hash == hashlib.sha256(session_id.encode()).hexdigest()
    assert row.case_id == case.id and row.revoked_at is None
    assert session_id not in str(
        db.session.execute(sa.text("SELECT * FROM follow_up_session")).all()
    )


def test_a_copied_cookie_fails_after_closing_on_this_device(app, open_case):
    _case, code, _handler, student, copy = open_case

    assert student.post("/volgen/stoppen").status_code == 302

    assert not _opens_the_case(copy)
    assert not _opens_the_case(student)
    assert copy.post("/volgen/melding/bericht", data={"body": "Nog iets."}).status_code == 401
    assert _opens_the_case(_open_case(app, code))  # the code still opens the case


def test_a_copied_cookie_fails_after_withdrawal(app, open_case):
    case, code, _handler, student, copy = open_case
    other = _copy(app, _open_case(app, code))  # another browser of the same student

    withdrawn = student.post("/volgen/melding/intrekken", data={"confirm": "y"})

    assert (withdrawn.status_code, withdrawn.headers["Location"]) == (302, "/")
    assert db.session.get(Case, case.id).outcome == Outcome.WITHDRAWN
    assert not _opens_the_case(copy)
    assert not _opens_the_case(other)
    assert not _opens_the_case(student)
    assert copy.get("/volgen/melding/gegevens").headers["Location"] == "/volgen"


def test_a_copied_cookie_fails_after_asking_for_erasure(app, open_case):
    case, _code, handler, student, copy = open_case
    workflow.close(case, handler, Outcome.RESOLVED, "Opgelost.")
    db.session.commit()

    asked = student.post("/volgen/melding/verwijderen", data={"confirm": "y"})

    assert (asked.status_code, asked.headers["Location"]) == (302, "/")
    assert db.session.get(Case, case.id).erasure_requested_at is not None
    assert not _opens_the_case(copy)
    assert not _opens_the_case(student)


def test_erasure_by_retention_ends_every_session(app, open_case):
    case, _code, handler, _student, copy = open_case
    workflow.close(case, handler, Outcome.RESOLVED, "Opgelost.")
    retention.erase_personal_data(case, "system", retention.RETENTION)
    db.session.commit()

    assert not _opens_the_case(copy)


def test_a_copied_cookie_fails_after_the_absolute_lifetime_however_active(app):
    case, code = make_case()
    lifetime = app.config["FOLLOW_UP_SESSION_MAX_SECONDS"]
    idle = app.config["FOLLOW_UP_SESSION_SECONDS"]
    assert lifetime == 2 * 3600 and idle < lifetime
    with time_machine.travel(START, tick=False) as traveller:
        student = _open_case(app, code)
        copy = _copy(app, student)
        # Active all along: a page every ten minutes keeps the idle timeout away.
        elapsed = 0
        while elapsed + 600 < lifetime:
            traveller.shift(timedelta(seconds=600))
            elapsed += 600
            assert _opens_the_case(copy), elapsed
        traveller.shift(timedelta(seconds=lifetime - elapsed + 1))

        assert not _opens_the_case(copy)
        assert not _opens_the_case(student)
        assert _opens_the_case(_open_case(app, code))  # a fresh session with the code


def test_a_session_ends_after_the_idle_timeout(app):
    _case, code = make_case()
    idle = app.config["FOLLOW_UP_SESSION_SECONDS"]
    with time_machine.travel(START, tick=False) as traveller:
        student = _open_case(app, code)
        traveller.shift(timedelta(seconds=idle - 5))
        assert _opens_the_case(student)
        traveller.shift(timedelta(seconds=idle - 5))
        assert _opens_the_case(student)  # activity moved the idle timeout on
        traveller.shift(timedelta(seconds=idle + 1))

        assert not _opens_the_case(student)


def test_a_forged_or_unknown_session_id_opens_nothing(app):
    make_case()
    db.session.commit()
    for forged in ("x" * 43, 1, {"case": 1}, ["x"], ""):
        browser = app.test_client()
        with browser.session_transaction() as session:
            session["follow_up"] = forged
        assert not _opens_the_case(browser), forged


def test_typing_a_code_again_ends_the_session_this_browser_had(app):
    first, first_code = make_case()
    _second, second_code = make_case(first.institution)
    student = _open_case(app, first_code)
    copy = _copy(app, student)

    assert student.post("/volgen", data={"code": second_code}).status_code == 302

    assert not _opens_the_case(copy)
    assert _opens_the_case(student)


def test_the_retention_command_deletes_ended_sessions_only(app, runner):
    institution = make_institution()
    _case, code = make_case(institution)
    with time_machine.travel(START, tick=False) as traveller:
        closed = _open_case(app, code)
        closed.post("/volgen/stoppen")
        _open_case(app, code)  # outlives its idle time
        traveller.shift(timedelta(hours=1))
        live = _open_case(app, code)
        assert count(FollowUpSession) == 3

        result = runner.invoke(args=["stagepact", "retention"])

        assert result.exit_code == 0, result.output
        db.session.expire_all()
        assert count(FollowUpSession) == 1
        assert _opens_the_case(live)


def test_purge_counts_what_it_deleted(app):
    _case, code = make_case()
    with time_machine.travel(START, tick=False) as traveller:
        _open_case(app, code)
        traveller.shift(timedelta(hours=3))
        assert follow_up_sessions.purge() == 1
        db.session.commit()
    assert count(FollowUpSession) == 0
