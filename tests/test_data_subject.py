"""The student's rights with the receipt code: download what the report holds about them,
and ask for their data to be erased, which the case's handler then does."""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest
import sqlalchemy as sa

from stagepact import workflow
from stagepact.extensions import db
from stagepact.models import AuditEvent, Case, Investigation, Message, OutboxMail, utcnow
from stagepact.vocab import Outcome, Role, Status
from stagepact.workflow import REPORTER, WorkflowError
from tests.factories import (
    PASSWORD,
    PERSONAL,
    PERSONAL_MARKER,
    SBB_SUMMARY,
    make_case,
    make_case_with_everything,
    make_institution,
    make_user,
)
from tests.helpers import READS, audit_events, count, page_text, reloaded
from tests.uploads import stored_bytes

EXPORT_URL = "/volgen/melding/gegevens"
REQUEST_URL = "/volgen/melding/verwijderen"


def _student(app, code: str):
    """The student's browser, with the case opened by its receipt code."""
    db.session.commit()
    browser = app.test_client()
    assert browser.post("/volgen", data={"code": code}).status_code == 302
    return browser


def _staff(app, user):
    db.session.commit()
    browser = app.test_client()
    login = browser.post("/inloggen", data={"email": user.email, "password": PASSWORD})
    assert login.status_code == 302
    return browser


def _closed_case(institution=None, **fields):
    institution = institution or make_institution()
    handler = make_user(Role.HANDLER, institution, name="Hanna Handelaar")
    case, code = make_case(institution, narrative="Mijn verhaal over de stage.", **fields)
    workflow.acknowledge(case, handler)
    workflow.start_follow_up(case, handler)
    workflow.close(case, handler, Outcome.RESOLVED, "Fijn dat het is opgelost.")
    db.session.commit()
    return case, code, handler


# --- Downloading what the report holds --------------------------------------------------------


@pytest.fixture
def full():
    full = make_case_with_everything()
    db.session.commit()
    return full


def _archive(response) -> zipfile.ZipFile:
    assert response.status_code == 200, response.status_code
    return zipfile.ZipFile(io.BytesIO(response.data))


def test_the_student_downloads_a_zip_of_everything_the_report_holds_about_them(app, full):
    student = _student(app, full.code)
    page = page_text(student.get("/volgen/melding"))
    assert f'href="{EXPORT_URL}"' in page
    assert "Download wat de melding over jou bewaart" in page

    response = student.get(EXPORT_URL)

    assert response.headers["Content-Type"] == "application/zip"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Cache-Control"] == "no-store"
    archive = _archive(response)
    evidence, screenshot = full.files
    assert sorted(archive.namelist()) == sorted(
        [
            "melding.json",
            "LEESMIJ.txt",
            f"bestanden/{evidence.id}-mail-van-het-bedrijf.txt",
            f"bestanden/{screenshot.id}-screenshot.txt",
        ]
    )
    assert archive.read(f"bestanden/{evidence.id}-mail-van-het-bedrijf.txt") == (
        PERSONAL["file"].encode()
    )
    assert archive.read(f"bestanden/{screenshot.id}-screenshot.txt") == (
        PERSONAL["message_file"].encode()
    )
    data = json.loads(archive.read("melding.json"))

    report = data["report"]
    for field, key in [
        ("reporter_name", "name"),
        ("student_number", "student_number"),
        ("email", "email"),
        ("phone", "phone"),
        ("notify_email", "email_for_notices"),
        ("programme", "programme"),
        ("narrative", "what_happened"),
        ("incident_period", "incident_period"),
        ("company_text", "company_as_you_wrote_it"),
    ]:
        assert report[key] == PERSONAL[field], key
    assert report["number"] == full.case.number
    assert report["anonymous"] is False
    assert report["incident_date"] == "2026-02-10"
    assert report["phase"] == "Tijdens de stage"
    assert report["grounds"] == [
        "Afkomst, huidskleur of etniciteit",
        "Geloof of levensovertuiging (bijvoorbeeld een hoofddoek)",
    ]
    assert report["company_in_the_register"]["kvk"] == full.case.company.kvk


def test_the_zip_holds_the_consents_with_time_and_source(app, full):
    data = json.loads(_archive(_student(app, full.code).get(EXPORT_URL)).read("melding.json"))

    consents = data["consents"]
    assert consents["now"]["SBB mag weten wie de student is"] is True
    assert len(consents["history"]) == 4
    for record in consents["history"]:
        assert record["given"] is True
        assert record["how"] == "In het meldformulier"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["at"])


def test_the_zip_holds_the_status_timeline_without_staff_names(app, full):
    data = json.loads(_archive(_student(app, full.code).get(EXPORT_URL)).read("melding.json"))

    steps = [step["what"] for step in data["timeline"]]
    assert steps == [
        "Je melding is binnengekomen",
        "Het meldpunt heeft de ontvangst bevestigd",
        "Het meldpunt is met je melding aan de slag gegaan",
        "Je melding is doorgestuurd naar het antidiscriminatiebureau",
        "Het antidiscriminatiebureau gaf je melding terug aan school",
        "Je melding is doorgestuurd naar SBB",
        "SBB heeft besloten; je melding is terug bij school",
        "Je melding is afgesloten",
    ]
    assert data["status"]["outcome"] == "Bedrijf aangesproken door school"
    everything = json.dumps(data, ensure_ascii=False)
    for user in (full.handler, full.investigation.decided_by):
        assert user.name not in everything and user.email not in everything


def test_the_zip_holds_the_messages_but_not_the_internal_notes(app, full):
    archive = _archive(_student(app, full.code).get(EXPORT_URL))
    data = json.loads(archive.read("melding.json"))

    messages = [(m["from"], m["text"]) for m in data["messages"]]
    assert messages == [
        ("jij", PERSONAL["student_message"]),
        ("meldpunt", PERSONAL["handler_message"]),
        ("meldpunt", PERSONAL["closing"]),
    ]
    assert data["messages"][0]["files"] == [f"bestanden/{full.files[1].id}-screenshot.txt"]
    assert data["messages"][1]["is_feedback"] is True
    whole_zip = b"".join(archive.read(name) for name in archive.namelist()).decode()
    assert PERSONAL["note"] not in whole_zip
    assert PERSONAL["adv_note"] not in whole_zip
    assert "Vraag ze op bij het meldpunt" in data["internal_notes"]
    assert "Vraag ze op bij het meldpunt" in archive.read("LEESMIJ.txt").decode()


def test_the_zip_says_what_went_to_the_adv_and_sbb(app, full):
    data = json.loads(_archive(_student(app, full.code).get(EXPORT_URL)).read("melding.json"))

    [adv] = data["antidiscrimination_bureau"]
    assert adv["adv"] == full.referral.adv.name
    assert adv["your_contact_details_shared"] is True
    assert adv["summary_sent"] == PERSONAL["adv_summary"]
    assert adv["files_sent"] == [f"bestanden/{full.files[0].id}-mail-van-het-bedrijf.txt"]
    assert adv["answer"].startswith("Het antidiscriminatiebureau neemt je melding niet")
    assert adv["sent_at"].endswith("Z")
    [sbb] = data["sbb"]
    assert sbb["your_name_shared"] is True
    assert sbb["summary_sent"] == SBB_SUMMARY
    assert sbb["files_sent"] == adv["files_sent"]
    assert sbb["decision"] == "SBB heeft een gesprek gevoerd met het leerbedrijf."


def test_downloading_is_an_audit_event_of_counts_only(app, full):
    _student(app, full.code).get(EXPORT_URL)

    [event] = audit_events("case.data_exported")
    assert (event.case_id, event.actor_type, event.actor_id) == (full.case.id, "reporter", None)
    assert json.loads(event.details) == {"files": 2, "messages": 3}


def test_without_the_code_the_download_asks_for_the_code(app, full):
    response = app.test_client().get(EXPORT_URL)

    assert response.status_code == 302
    assert response.headers["Location"].endswith("/volgen")
    assert audit_events("case.data_exported") == []


# --- Asking for erasure -----------------------------------------------------------------------


def test_the_student_asks_for_erasure_with_an_explicit_confirmation(app):
    case, code, handler = _closed_case()
    colleague = make_user(Role.HANDLER, case.institution)
    student = _student(app, code)
    page = page_text(student.get("/volgen/melding"))
    assert f'href="{REQUEST_URL}"' in page
    mails = count(OutboxMail)

    unconfirmed = student.post(REQUEST_URL, data={})
    assert unconfirmed.status_code == 422
    assert "Zet een vinkje" in page_text(unconfirmed)
    assert reloaded(case).erasure_requested_at is None

    confirmed = student.post(REQUEST_URL, data={"confirm": "y"})

    assert (confirmed.status_code, confirmed.headers["Location"]) == (302, "/")
    assert reloaded(case).erasure_requested_at is not None
    # Asking for erasure ends the session: the code opens the case again.
    assert student.get("/volgen/melding").headers["Location"] == "/volgen"
    student = _student(app, code)
    page = page_text(student.get("/volgen/melding"))
    assert "om verwijdering van je gegevens" in page
    assert f'href="{REQUEST_URL}"' not in page
    assert student.get(REQUEST_URL).status_code == 302  # asking twice is not offered
    [event] = audit_events("case.erasure_requested")
    assert (event.actor_type, event.case_id) == ("reporter", case.id)
    # The handler it is assigned to hears of it, without content; the colleague does not.
    new_mail = db.session.scalars(sa.select(OutboxMail).where(OutboxMail.id > mails)).all()
    [mail] = [m for m in new_mail if m.purpose == "handler_erasure_request"]
    assert mail.recipient == handler.email and colleague.email not in mail.recipient
    assert case.number in mail.subject
    assert f"/behandelen/zaken/{case.id}" in mail.body
    assert "Mijn verhaal" not in mail.body and code not in mail.body


def test_asking_for_erasure_of_an_open_unassigned_case_tells_every_handler(app):
    institution = make_institution()
    handlers = [make_user(Role.HANDLER, institution) for _ in range(2)]
    case, code = make_case(institution)
    student = _student(app, code)
    assert "Je melding loopt nog" in page_text(student.get(REQUEST_URL))

    assert student.post(REQUEST_URL, data={"confirm": "y"}).status_code == 302

    mails = db.session.scalars(
        sa.select(OutboxMail).where(OutboxMail.purpose == "handler_erasure_request")
    ).all()
    assert sorted(m.recipient for m in mails) == sorted(h.email for h in handlers)
    # The handler sees the request, and that the case must be closed first.
    page = page_text(_staff(app, handlers[0]).get(f"/behandelen/zaken/{case.id}"))
    assert "De student vroeg op" in page and "Sluit de melding eerst af" in page
    assert "Persoonsgegevens wissen" not in page


def test_the_request_page_asks_for_the_code(app):
    response = app.test_client().post(REQUEST_URL, data={"confirm": "y"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/volgen")


# --- The handler erases ------------------------------------------------------------------------


def _erase_url(case: Case) -> str:
    return f"/behandelen/zaken/{case.id}/wissen"


def test_the_handler_erases_a_closed_case_the_student_asked_to_erase(app, full):
    case = full.case
    student = _student(app, full.code)
    assert student.post(REQUEST_URL, data={"confirm": "y"}).status_code == 302
    desk = _staff(app, full.handler)
    page = page_text(desk.get(f"/behandelen/zaken/{case.id}"))
    assert "Persoonsgegevens wissen" in page
    assert "niet ongedaan kan worden gemaakt" in page
    assert f'action="{_erase_url(case)}"' in page

    unconfirmed = desk.post(_erase_url(case), data={})
    assert unconfirmed.status_code == 422
    assert reloaded(case).personal_data_erased_at is None

    done = desk.post(_erase_url(case), data={"erase-confirm": "y"})

    assert done.status_code == 302
    erased = reloaded(case)
    assert erased.personal_data_erased_at is not None
    assert erased.narrative == "" and erased.reporter_name is None
    assert {m.body for m in erased.messages} == {""}
    assert erased.attachments == []
    investigation = db.session.get(Investigation, full.investigation.id)
    assert investigation.student_name is None and not investigation.shares_identity
    [event] = audit_events("case.personal_data_erased")
    assert (event.actor_type, event.actor_id) == ("user", full.handler.id)
    assert json.loads(event.details)["reason"] == "request"
    page = page_text(desk.get(f"/behandelen/zaken/{case.id}"))
    assert "zijn gewist op" in page and PERSONAL_MARKER not in page.lower()
    assert "Persoonsgegevens wissen" not in page and "Melding heropenen" not in page

    # With the code, the student reads that their data were erased; nothing personal is left.
    student = _student(app, full.code)
    page = page_text(student.get("/volgen/melding"))
    assert "Je gegevens zijn gewist op" in page
    assert PERSONAL_MARKER not in page.lower()
    archive = _archive(student.get(EXPORT_URL))
    assert archive.namelist() == ["melding.json", "LEESMIJ.txt"]
    assert PERSONAL_MARKER not in archive.read("melding.json").decode().lower()


def test_a_case_the_student_withdrew_may_be_erased_without_a_request(app):
    institution = make_institution()
    handler = make_user(Role.HANDLER, institution)
    case, _code = make_case(institution, narrative="Laat maar.")
    workflow.withdraw(case, "Ik wil niet verder.")
    db.session.commit()
    desk = _staff(app, handler)
    assert "ingetrokken" in page_text(desk.get(f"/behandelen/zaken/{case.id}"))

    assert desk.post(_erase_url(case), data={"erase-confirm": "y"}).status_code == 302

    assert reloaded(case).narrative == ""
    [event] = audit_events("case.personal_data_erased")
    assert json.loads(event.details)["reason"] == "withdrawn"


def _unchanged(case: Case) -> tuple:
    fresh = reloaded(case)
    return (
        fresh.narrative,
        fresh.personal_data_erased_at,
        [m.body for m in fresh.messages],
        # A refused erasure shows the case again: a read, not a change.
        count(AuditEvent, AuditEvent.case_id == case.id, AuditEvent.action.not_in(READS)),
    )


@pytest.mark.parametrize("status", [Status.NEW, Status.TRIAGE, Status.FOLLOW_UP])
def test_erasing_is_refused_while_the_case_is_open(app, status):
    institution = make_institution()
    handler = make_user(Role.HANDLER, institution)
    case, _code = make_case(institution, narrative="Nog bezig.")
    if status != Status.NEW:
        workflow.acknowledge(case, handler)
    if status == Status.FOLLOW_UP:
        workflow.start_follow_up(case, handler)
    case.erasure_requested_at = utcnow()
    db.session.commit()
    desk = _staff(app, handler)
    assert "Persoonsgegevens wissen" not in page_text(desk.get(f"/behandelen/zaken/{case.id}"))
    before = _unchanged(case)

    response = desk.post(_erase_url(case), data={"erase-confirm": "y"})

    assert response.status_code == 409
    assert _unchanged(case) == before
    with pytest.raises(WorkflowError):
        workflow.erase(reloaded(case), handler)


def test_erasing_a_closed_case_needs_the_students_request_or_withdrawal(app):
    case, _code, handler = _closed_case()
    desk = _staff(app, handler)
    assert "Persoonsgegevens wissen" not in page_text(desk.get(f"/behandelen/zaken/{case.id}"))
    before = _unchanged(case)

    assert desk.post(_erase_url(case), data={"erase-confirm": "y"}).status_code == 409
    assert _unchanged(case) == before


def test_another_institutions_handler_gets_404_and_erases_nothing(app):
    case, _code, _handler = _closed_case()
    case.erasure_requested_at = utcnow()
    stranger = make_user(Role.HANDLER, make_institution())
    assert not workflow.can("erase", case, stranger)
    db.session.commit()
    before = _unchanged(case)

    response = _staff(app, stranger).post(_erase_url(case), data={"erase-confirm": "y"})

    assert response.status_code == 404
    assert "Mijn verhaal" not in page_text(response)
    assert _unchanged(case) == before


@pytest.mark.parametrize("role", [Role.SBB_REVIEWER, Role.INSTITUTION_ADMIN])
def test_sbb_and_the_institution_admin_cannot_erase(app, role):
    case, _code, _handler = _closed_case()
    case.erasure_requested_at = utcnow()
    user = make_user(role, case.institution if role == Role.INSTITUTION_ADMIN else None)
    assert not workflow.can("erase", case, user)
    with pytest.raises(WorkflowError):
        workflow.erase(case, user)
    db.session.commit()
    before = _unchanged(case)

    response = _staff(app, user).post(_erase_url(case), data={"erase-confirm": "y"})

    assert response.status_code == 404
    assert _unchanged(case) == before


def test_nothing_more_happens_to_an_erased_case(app):
    case, code, handler = _closed_case()
    student = _student(app, code)
    student.post(REQUEST_URL, data={"confirm": "y"})
    case = reloaded(case)
    workflow.erase(case, handler)
    db.session.commit()

    assert workflow.allowed_actions(case, handler) == []
    for action in [*workflow.TRANSITIONS, *workflow.CASE_ACTIONS]:
        assert not workflow.can(action, case, REPORTER), action
    with pytest.raises(WorkflowError):
        workflow.erase(case, handler)
    with pytest.raises(WorkflowError):
        workflow.reopen(case, handler, "Toch nog iets.")
    with pytest.raises(WorkflowError):
        workflow.add_note(case, handler, "Een nieuwe notitie met een naam.")
    refused = student.post(
        "/volgen/melding/meldingen-per-mail", data={"notify_email": "nieuw@example.org"}
    )
    assert refused.status_code == 302
    assert reloaded(case).notify_email is None
    assert "Mail bij nieuws" not in page_text(student.get("/volgen/melding"))
    assert count(Message) == len(reloaded(case).messages)  # no message was added


def test_erasing_removes_the_files_content(app, full):
    case = full.case
    case.erasure_requested_at = utcnow()
    files = [a.id for a in full.files]
    assert all(stored_bytes(file) for file in files)

    workflow.erase(case, full.handler)
    db.session.commit()

    assert not any(stored_bytes(file) for file in files)


def test_asking_for_erasure_needs_the_forms_csrf_token(app, csrf_enabled):
    case, code, _handler = _closed_case()
    db.session.commit()
    student = app.test_client()
    page = page_text(student.get("/volgen"))
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert student.post("/volgen", data={"code": code, "csrf_token": token}).status_code == 302

    forged = student.post(REQUEST_URL, data={"confirm": "y"})

    assert forged.status_code == 422
    assert reloaded(case).erasure_requested_at is None
    token = re.search(r'name="csrf_token" value="([^"]+)"', page_text(student.get(REQUEST_URL)))
    sent = student.post(REQUEST_URL, data={"confirm": "y", "csrf_token": token.group(1)})
    assert sent.status_code == 302
    assert reloaded(case).erasure_requested_at is not None
