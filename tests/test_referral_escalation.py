"""Going outside the school (issue 3): consents, the ADV referral with its answer, SBB escalation.

A handler refers a case to the ADV, or escalates it to SBB, only with the
student's consent (and, for SBB, a linked learning company); the handler
chooses what is shared, the referral is mailed to the ADV through the outbox,
and every step lands in the audit trail and the case timeline. Mostly through
the desk's HTTP routes, as a handler's browser uses them.
"""

from __future__ import annotations

import email
import html as html_lib
import json
import re
from datetime import date
from email import policy

import pytest
import sqlalchemy as sa

from stagepact import audit, workflow
from stagepact.extensions import db
from stagepact.models import (
    Case,
    CaseConsent,
    Investigation,
    InvestigationMessage,
    OutboxMail,
    Referral,
)
from stagepact.outbox import send_due
from stagepact.vocab import (
    AdvAnswer,
    ConsentKind,
    ConsentSource,
    InvestigationOrigin,
    InvestigationStatus,
    Role,
    Status,
)
from stagepact.workflow import WorkflowError
from tests.factories import make_adv, make_case, make_company, make_institution, make_user
from tests.helpers import audit_events, changes_in_trail, count, field_error, page_text, reloaded

S = Status

# What the student wrote and who they are: none of it may go where it was not chosen to go.
NARRATIVE = "GEHEIM-VERHAAL de praktijkopleider zei dat mijn hoofddoek niet bij de klanten past."
NAME = "Yasmina Q7-Bouzid"
EMAIL = "yasmina.q7@voorbeeld.nl"
PHONE = "06 7777 1234"
STUDENT_NUMBER = "SN-Q7-424242"
NOTICE_ADDRESS = "notice.q7@voorbeeld.nl"
INCIDENT = date(2026, 3, 17)
ADV_SUMMARY = "Samenvatting voor het ADV: opmerking over een hoofddoek tijdens de stage."
SBB_SUMMARY = "Samenvatting voor SBB: een praktijkopleider maakte opmerkingen over geloof."

ROUTES = ("toestemming", "doorverwijzen", "adv-antwoord", "doorzetten", "sbb-bericht")


# --- Building cases ------------------------------------------------------------------------


def _case(
    status: Status = S.FOLLOW_UP,
    *,
    named: bool = True,
    consent_adv: bool = True,
    consent_sbb: bool = False,
    consent_sbb_identity: bool = False,
    consent_contact: bool = True,
    company: bool = True,
    institution=None,
):
    """A case in `status` with its handler and receipt code; the student left a notice address."""
    institution = institution or make_institution()
    handler = make_user(Role.HANDLER, institution)
    identity = (
        {
            "is_anonymous": False,
            "reporter_name": NAME,
            "email": EMAIL,
            "phone": PHONE,
            "student_number": STUDENT_NUMBER,
        }
        if named
        else {"is_anonymous": True}
    )
    case, code = make_case(
        institution,
        narrative=NARRATIVE,
        grounds=["religion", "origin"],
        phase="internship",
        form="remark",
        who="trainer",
        incident_date=INCIDENT,
        consent_adv=consent_adv,
        consent_sbb=consent_sbb,
        consent_sbb_identity=consent_sbb_identity,
        consent_contact=consent_contact,
        **identity,
    )
    case.notify_email = NOTICE_ADDRESS
    if company:
        case.company_id = make_company(name="Kapsalon De Schaar BV").id
    if status != S.NEW:
        workflow.acknowledge(case, handler)
    if status == S.REFERRED:
        workflow.refer(case, handler, institution.adv, ADV_SUMMARY, False)
    elif status == S.ESCALATED:
        workflow.escalate(case, handler, SBB_SUMMARY, False)
    elif status == S.FOLLOW_UP:
        workflow.start_follow_up(case, handler)
    db.session.commit()
    assert case.status == status
    return case, handler, code


# --- Reading the database and the pages -----------------------------------------------------


def _mails(purpose: str | None = None) -> list[OutboxMail]:
    query = sa.select(OutboxMail).order_by(OutboxMail.id)
    if purpose is not None:
        query = query.where(OutboxMail.purpose == purpose)
    return db.session.scalars(query).all()


def _state(case: Case) -> dict:
    """Everything a refused step must leave alone."""
    fresh = reloaded(case)
    return {
        "status": fresh.status,
        "consents": {kind: fresh.consent(kind) for kind in ConsentKind},
        "consent records": count(CaseConsent),
        "referrals": [(r.id, r.answer, r.answer_note) for r in fresh.referrals],
        "investigations": count(Investigation),
        "sbb messages": count(InvestigationMessage),
        "audit events": changes_in_trail(),
        "mails": count(OutboxMail),
    }


def _post(client, case: Case, route: str, data: dict):
    return client.post(f"/behandelen/zaken/{case.id}/{route}", data=data)


def _form_html(page: str, route: str) -> str:
    match = re.search(rf'action="/behandelen/zaken/\d+/{route}".*?</form>', page, re.S)
    assert match, f"no {route} form on the page"
    return match.group(0)


def _summary_errors(page: str) -> dict[str, str]:
    """The error summaries' links: field id -> message."""
    return {
        target: html_lib.unescape(message).strip()
        for target, message in re.findall(r'<li><a href="#([^"]+)">(.*?)</a></li>', page, re.S)
    }


def _timeline(page: str) -> list[str]:
    match = re.search(r'<ol class="timeline">(.*?)</ol>', page, re.S)
    assert match, "the case page has a timeline"
    items = re.findall(r"<li>.*?</time>\s*·\s*(.*?)\s*·", match.group(1), re.S)
    return [html_lib.unescape(item).strip() for item in items]


def _student_page(app, code: str) -> str:
    """The student's own view, opened in their own browser with the receipt code."""
    student = app.test_client()
    assert student.post("/volgen", data={"code": code}).status_code == 302
    response = student.get("/volgen/melding")
    assert response.status_code == 200
    return page_text(response)


# --- Consents -------------------------------------------------------------------------------


def test_consents_ticked_in_the_report_are_recorded_with_time_and_source_form():
    case, _handler, _code = _case(S.NEW, consent_sbb=True, consent_sbb_identity=True)

    records = reloaded(case).consents

    assert {(r.kind, r.given, r.source) for r in records} == {
        (kind, True, ConsentSource.FORM) for kind in ConsentKind
    }
    for record in records:
        assert record.recorded_at is not None
        assert record.recorded_by_id is None and record.message_id is None


def test_consents_of_a_report_entered_by_a_handler_are_recorded_as_given_to_the_handler():
    institution = make_institution()
    handler = make_user(Role.HANDLER, institution)
    case, _code = make_case(institution, entered_by=handler, consent_adv=True)

    assert [(r.kind, r.given, r.source, r.recorded_by_id) for r in case.consents] == [
        (ConsentKind.ADV, True, ConsentSource.HANDLER, handler.id)
    ]


def test_handler_records_a_consent_the_student_gave_in_a_message(client, auth):
    case, handler, _code = _case(consent_adv=False)
    answer = workflow.student_message(case, "GEHEIM-BERICHT ja, stuur het maar naar het ADV.")
    db.session.commit()
    auth.login(handler)

    response = _post(
        client,
        case,
        "toestemming",
        {
            "consent-kind": "adv",
            "consent-given": "yes",
            "consent-source": "message",
            "consent-message_id": str(answer.id),
        },
    )

    assert response.status_code == 302
    fresh = reloaded(case)
    assert fresh.consent_adv is True
    record = fresh.consents[-1]
    assert (record.kind, record.given, record.source) == (
        ConsentKind.ADV,
        True,
        ConsentSource.MESSAGE,
    )
    assert record.message_id == answer.id
    assert record.recorded_by_id == handler.id
    assert record.recorded_at is not None
    [event] = audit_events("case.consent_recorded", case_id=case.id)
    assert (event.actor_type, event.actor_id) == ("user", handler.id)
    assert json.loads(event.details) == {
        "kind": "adv",
        "given": True,
        "source": "message",
        "consent_id": record.id,
    }
    for secret in ("GEHEIM", NAME, EMAIL, "hoofddoek"):
        assert secret.lower() not in event.details.lower()
    page = page_text(client.get(f"/behandelen/zaken/{case.id}"))
    assert "Toestemming vastgelegd" in _timeline(page)
    assert f"In een bericht ({handler.name})" in page  # how the consent was given, and by whom


def test_handler_records_a_consent_the_student_gave_to_them_and_its_withdrawal(client, auth):
    case, handler, _code = _case(consent_contact=False)
    auth.login(handler)
    data = {"consent-kind": "contact", "consent-source": "handler"}

    given = _post(client, case, "toestemming", {**data, "consent-given": "yes"})
    withdrawn = _post(client, case, "toestemming", {**data, "consent-given": "no"})

    assert given.status_code == withdrawn.status_code == 302
    fresh = reloaded(case)
    assert fresh.consent_contact is False
    later = [r for r in fresh.consents if r.recorded_by_id is not None]
    assert [(r.kind, r.given, r.source, r.message_id) for r in later] == [
        (ConsentKind.CONTACT, True, ConsentSource.HANDLER, None),
        (ConsentKind.CONTACT, False, ConsentSource.HANDLER, None),
    ]
    assert all(r.recorded_at is not None for r in later)
    assert later[0].recorded_at <= later[1].recorded_at
    details = [
        json.loads(e.details) for e in audit_events("case.consent_recorded", case_id=case.id)
    ]
    assert [(d["kind"], d["given"], d["source"]) for d in details] == [
        ("contact", True, "handler"),
        ("contact", False, "handler"),
    ]


def _consent_refused(client, case, data: dict, field: str) -> str:
    before = _state(case)
    response = _post(client, case, "toestemming", data)
    assert response.status_code == 422
    assert _state(case) == before
    return field_error(_form_html(page_text(response), "toestemming"), f"consent-{field}")


def test_consent_from_a_message_needs_a_students_message_of_this_case(client, auth):
    case, handler, _code = _case(consent_adv=False)
    mine = workflow.send_message(case, handler, "Mag je melding naar het ADV?")
    elsewhere, *_ = _case(consent_adv=False)
    theirs = workflow.student_message(elsewhere, "Ja, naar het ADV.")
    db.session.commit()
    auth.login(handler)
    data = {"consent-kind": "adv", "consent-given": "yes", "consent-source": "message"}

    assert _consent_refused(client, case, data, "message_id") == "Kies het bericht van de student."
    # Neither the handler's own message nor another case's student message will do.
    for other in (mine, theirs):
        refused = {**data, "consent-message_id": str(other.id)}
        assert _consent_refused(client, case, refused, "message_id")


def test_workflow_refuses_a_message_that_is_not_the_students_or_not_of_this_case():
    case, handler, _code = _case(consent_adv=False)
    mine = workflow.send_message(case, handler, "Mag je melding naar het ADV?")
    elsewhere, *_ = _case(consent_adv=False)
    theirs = workflow.student_message(elsewhere, "Ja, naar het ADV.")

    for message in (None, mine, theirs):
        with pytest.raises(WorkflowError) as refused:
            workflow.record_consent(
                case, handler, ConsentKind.ADV, True, ConsentSource.MESSAGE, message
            )
        assert refused.value.field == "message_id"
    assert case.consent_adv is False


def test_form_is_not_a_source_a_handler_can_choose(client, auth):
    case, handler, _code = _case(consent_adv=False)
    auth.login(handler)

    page = page_text(client.get(f"/behandelen/zaken/{case.id}"))
    sources = re.search(r'<select[^>]*name="consent-source".*?</select>', page, re.S).group(0)
    assert set(re.findall(r'value="([^"]*)"', sources)) == {"message", "handler"}
    data = {"consent-kind": "adv", "consent-given": "yes", "consent-source": "form"}
    assert _consent_refused(client, case, data, "source")
    with pytest.raises(WorkflowError) as refused:
        workflow.record_consent(case, handler, ConsentKind.ADV, True, ConsentSource.FORM)
    assert refused.value.field == "source"


def test_sbb_identity_consent_is_refused_for_an_anonymous_case(client, auth):
    case, handler, _code = _case(named=False, consent_sbb=True)
    auth.login(handler)

    message = _consent_refused(
        client,
        case,
        {"consent-kind": "sbb_identity", "consent-given": "yes", "consent-source": "handler"},
        "kind",
    )

    assert message == "De student meldde anoniem; SBB kan de naam dus niet krijgen."
    assert reloaded(case).consent_sbb_identity is False


def test_sbb_identity_consent_needs_the_sbb_consent_first(client, auth):
    case, handler, _code = _case(consent_sbb=False)
    auth.login(handler)
    identity = {"consent-kind": "sbb_identity", "consent-given": "yes", "consent-source": "handler"}

    message = _consent_refused(client, case, identity, "kind")
    assert message == "Leg eerst vast dat de melding naar SBB mag."

    sbb = {**identity, "consent-kind": "sbb"}
    assert _post(client, case, "toestemming", sbb).status_code == 302
    assert _post(client, case, "toestemming", identity).status_code == 302
    fresh = reloaded(case)
    assert (fresh.consent_sbb, fresh.consent_sbb_identity) == (True, True)


def test_recording_a_consent_as_it_already_stands_is_refused(client, auth):
    case, handler, _code = _case(consent_adv=True)
    auth.login(handler)

    message = _consent_refused(
        client,
        case,
        {"consent-kind": "adv", "consent-given": "yes", "consent-source": "handler"},
        "given",
    )

    assert message == "Dit staat al zo vastgelegd."


def test_withdrawing_the_sbb_consent_also_withdraws_the_identity_consent(client, auth):
    case, handler, _code = _case(consent_sbb=True, consent_sbb_identity=True)
    auth.login(handler)

    response = _post(
        client,
        case,
        "toestemming",
        {"consent-kind": "sbb", "consent-given": "no", "consent-source": "handler"},
    )

    assert response.status_code == 302
    fresh = reloaded(case)
    assert (fresh.consent_sbb, fresh.consent_sbb_identity) == (False, False)
    later = [r for r in fresh.consents if r.recorded_by_id]
    assert {(r.kind, r.given, r.source) for r in later} == {
        (ConsentKind.SBB, False, ConsentSource.HANDLER),
        (ConsentKind.SBB_IDENTITY, False, ConsentSource.HANDLER),
    }
    assert len(later) == 2 and all(r.recorded_at is not None for r in later)
    details = [
        json.loads(e.details) for e in audit_events("case.consent_recorded", case_id=case.id)
    ]
    assert sorted((d["kind"], d["given"]) for d in details) == [
        ("sbb", False),
        ("sbb_identity", False),
    ]


# --- ADV referral ------------------------------------------------------------------------------


def test_referral_without_the_students_consent_is_refused_and_mails_nothing(client, auth):
    case, handler, _code = _case(consent_adv=False)
    auth.login(handler)
    page = page_text(client.get(f"/behandelen/zaken/{case.id}"))
    assert "/doorverwijzen" not in page
    assert "De student heeft (nog) geen toestemming gegeven voor het ADV." in page
    before = _state(case)

    response = _post(
        client,
        case,
        "doorverwijzen",
        {"refer-adv_id": str(case.institution.adv_id), "refer-summary": ADV_SUMMARY},
    )

    assert response.status_code == 409
    assert "Deze stap kan nu niet bij deze melding." in page_text(response)
    assert _state(case) == before
    assert count(Referral) == 0 and _mails("adv_referral") == []
    with pytest.raises(WorkflowError):
        workflow.refer(case, handler, case.institution.adv, ADV_SUMMARY, False)


def test_referral_with_consent_records_it_and_queues_the_mail_to_the_adv(client, auth):
    case, handler, _code = _case(consent_adv=True)
    other_adv = make_adv(name="Discriminatie Meldpunt Noord", email="intake@adv-noord.example")
    db.session.commit()
    auth.login(handler)

    response = _post(
        client,
        case,
        "doorverwijzen",
        {"refer-adv_id": str(other_adv.id), "refer-summary": f"  {ADV_SUMMARY}\n"},
    )

    assert response.status_code == 302
    fresh = reloaded(case)
    assert fresh.status == S.REFERRED
    [referral] = fresh.referrals
    assert referral.adv_id == other_adv.id
    assert referral.referred_by_id == handler.id
    assert referral.referred_at is not None
    assert referral.summary == ADV_SUMMARY
    assert referral.shared_contact is False
    assert referral.answer is None
    [adv_mail] = _mails("adv_referral")
    assert adv_mail.recipient == "intake@adv-noord.example"
    assert fresh.number in adv_mail.subject
    assert ADV_SUMMARY in adv_mail.body
    [event] = audit_events("case.referred", case_id=case.id)
    assert json.loads(event.details) == {
        "from_status": "follow_up",
        "to_status": "referred",
        "referral_id": referral.id,
        "adv_id": other_adv.id,
        "shared_contact": False,
        "attachment_ids": [],
    }
    page = page_text(client.get(f"/behandelen/zaken/{case.id}"))
    assert "Doorverwezen naar Discriminatie Meldpunt Noord" in page
    assert "Doorverwezen naar ADV" in _timeline(page)


@pytest.mark.parametrize(
    "student",
    [
        pytest.param({"consent_contact": False}, id="no_contact_consent"),
        pytest.param({"named": False}, id="anonymous"),
    ],
)
def test_sharing_contact_details_is_refused_without_contact_consent_or_a_name(
    client, auth, student
):
    case, handler, _code = _case(**student)
    auth.login(handler)
    page = page_text(client.get(f"/behandelen/zaken/{case.id}"))
    assert 'name="refer-share_contact"' not in _form_html(page, "doorverwijzen")
    before = _state(case)

    response = _post(
        client,
        case,
        "doorverwijzen",
        {
            "refer-adv_id": str(case.institution.adv_id),
            "refer-summary": ADV_SUMMARY,
            "refer-share_contact": "y",
        },
    )

    assert response.status_code == 422
    page = page_text(response)
    assert _summary_errors(page)["refer-share_contact"] == (
        "De student gaf geen toestemming voor contact, of liet geen gegevens achter."
    )
    assert ADV_SUMMARY in _form_html(page, "doorverwijzen")  # what was typed is kept
    assert _state(case) == before
    assert count(Referral) == 0 and _mails("adv_referral") == []


def test_a_student_with_contact_consent_but_no_address_or_phone_has_nothing_to_share():
    case, handler, _code = _case()
    case.email = None
    case.phone = None

    assert workflow.can_share_contact(case) is False
    with pytest.raises(WorkflowError) as refused:
        workflow.refer(case, handler, case.institution.adv, ADV_SUMMARY, True)
    assert refused.value.field == "share_contact"
    assert case.referrals == []


def test_refused_share_contact_error_stands_beside_a_field_on_the_page(client, auth):
    case, handler, _code = _case(consent_contact=False)
    auth.login(handler)

    page = page_text(
        _post(
            client,
            case,
            "doorverwijzen",
            {
                "refer-adv_id": str(case.institution.adv_id),
                "refer-summary": ADV_SUMMARY,
                "refer-share_contact": "y",
            },
        )
    )

    assert 'id="refer-share_contact"' in page
    assert field_error(page, "refer-share_contact")


@pytest.mark.parametrize(
    ("data", "field", "expected"),
    [
        ({"refer-adv_id": ""}, "refer-adv_id", "Kies het antidiscriminatiebureau."),
        ({"refer-summary": "   "}, "refer-summary", "Schrijf een samenvatting voor het ADV."),
        ({"refer-summary": "x" * 5001}, "refer-summary", "Deze samenvatting is te lang."),
    ],
    ids=["no_adv", "empty_summary", "summary_too_long"],
)
def test_a_referral_form_with_errors_says_so_beside_the_field_and_keeps_the_summary(
    client, auth, data, field, expected
):
    case, handler, _code = _case()
    auth.login(handler)
    before = _state(case)
    posted = {
        "refer-adv_id": str(case.institution.adv_id),
        "refer-summary": ADV_SUMMARY,
        **data,
    }

    response = _post(client, case, "doorverwijzen", posted)

    assert response.status_code == 422
    form = _form_html(page_text(response), "doorverwijzen")
    assert field_error(form, field) == expected
    if posted["refer-summary"].strip():
        assert posted["refer-summary"] in form
    assert _state(case) == before


def test_an_adv_without_an_email_address_cannot_be_referred_to(client, auth):
    case, handler, _code = _case()
    silent = make_adv(name="Bureau Zonder Adres", email=None)
    db.session.commit()
    auth.login(handler)
    before = _state(case)

    response = _post(
        client,
        case,
        "doorverwijzen",
        {"refer-adv_id": str(silent.id), "refer-summary": ADV_SUMMARY},
    )

    assert response.status_code == 422
    form = _form_html(page_text(response), "doorverwijzen")
    assert "geen e-mailadres bekend" in field_error(form, "refer-adv_id")
    assert ADV_SUMMARY in form
    assert _state(case) == before


def _delivered(smtp, recipient: str) -> list[tuple[str, str]]:
    """(subject, plain body) of every mail the SMTP server took for `recipient`."""
    found = []
    for envelope in smtp.collector.envelopes:
        if envelope.rcpt_tos == [recipient]:
            message = email.message_from_bytes(envelope.content, policy=policy.default)
            body = message.get_body(preferencelist=("plain",)).get_content()
            found.append((str(message["Subject"]), body))
    return found


@pytest.mark.parametrize("share_contact", [False, True], ids=["summary_only", "with_contact"])
def test_the_adv_mail_delivered_holds_only_what_the_handler_chose(
    client, auth, smtp, share_contact
):
    case, handler, code = _case()
    workflow.add_note(case, handler, "GEHEIM-NOTITIE het bedrijf ontkent alles.")
    workflow.student_message(case, "GEHEIM-ANTWOORD het was op dinsdag.")
    db.session.commit()
    adv = case.institution.adv
    auth.login(handler)
    data = {"refer-adv_id": str(adv.id), "refer-summary": ADV_SUMMARY}
    if share_contact:
        data["refer-share_contact"] = "y"

    assert _post(client, case, "doorverwijzen", data).status_code == 302
    sent, failed = send_due()

    assert failed == 0 and sent >= 2
    [(subject, body)] = _delivered(smtp, adv.email)
    assert case.number in subject and case.institution.name in subject
    assert ADV_SUMMARY in body
    assert handler.name in body and handler.email in body  # whom the ADV can ask
    for detail in (NAME, EMAIL, PHONE):
        assert (detail in body) is share_contact, detail
    everything = subject + body
    compact = "".join(ch for ch in everything if ch.isalnum())
    for never in ("GEHEIM", "hoofddoek niet bij de klanten", STUDENT_NUMBER, NOTICE_ADDRESS):
        assert never not in everything, never
    assert code not in compact
    # The student hears there is news, never what went to the ADV.
    notices = _delivered(smtp, NOTICE_ADDRESS)
    assert len(notices) == 3  # acknowledged, follow-up started, referred
    for notice in notices:
        assert ADV_SUMMARY not in "".join(notice) and "GEHEIM" not in "".join(notice)


# --- The ADV's answer ----------------------------------------------------------------------------


def test_adv_taking_the_case_on_keeps_it_referred(app, client, auth):
    case, handler, code = _case(S.REFERRED)
    auth.login(handler)

    response = _post(client, case, "adv-antwoord", {"adv-answer": "taken_on"})

    assert response.status_code == 302
    fresh = reloaded(case)
    assert fresh.status == S.REFERRED
    [referral] = fresh.referrals
    assert referral.answer == AdvAnswer.TAKEN_ON
    assert referral.answer_note is None
    assert referral.answered_at is not None and referral.answered_by_id == handler.id
    [event] = audit_events("case.adv_answered", case_id=case.id)
    assert json.loads(event.details) == {"referral_id": referral.id, "answer": "taken_on"}
    assert audit_events("case.returned_from_referral", case_id=case.id) == []
    page = page_text(client.get(f"/behandelen/zaken/{case.id}"))
    assert "Antwoord van het ADV vastgelegd" in _timeline(page)
    assert "Het ADV heeft de melding in behandeling genomen" in page
    student = _student_page(app, code)
    assert "doorgestuurd naar het antidiscriminatiebureau" in student


@pytest.mark.parametrize("answer", [AdvAnswer.DECLINED, AdvAnswer.CLOSED])
def test_adv_declining_or_closing_needs_a_note_and_returns_the_case(app, client, auth, answer):
    case, handler, code = _case(S.REFERRED)
    auth.login(handler)
    before = _state(case)

    refused = _post(client, case, "adv-antwoord", {"adv-answer": str(answer), "adv-note": " "})

    assert refused.status_code == 422
    form = _form_html(page_text(refused), "adv-antwoord")
    assert field_error(form, "adv-note") == "Schrijf wat het ADV liet weten."
    assert _state(case) == before

    note = "GEHEIM-UITKOMST het ADV heeft bemiddeld; de student is tevreden."
    response = _post(client, case, "adv-antwoord", {"adv-answer": str(answer), "adv-note": note})

    assert response.status_code == 302
    fresh = reloaded(case)
    assert fresh.status == S.FOLLOW_UP
    [referral] = fresh.referrals
    assert (referral.answer, referral.answer_note) == (answer, note)
    assert referral.answered_by_id == handler.id and referral.answered_at is not None
    assert fresh.open_referral is None
    [event] = audit_events("case.returned_from_referral", case_id=case.id)
    assert json.loads(event.details) == {
        "from_status": "referred",
        "to_status": "follow_up",
        "referral_id": referral.id,
        "answer": str(answer),
    }
    page = page_text(client.get(f"/behandelen/zaken/{case.id}"))
    assert "Terug van ADV" in _timeline(page)
    assert note in page
    assert "Het meldpunt is met je melding bezig." in _student_page(app, code)


def test_the_same_adv_answer_twice_is_refused(client, auth):
    case, handler, _code = _case(S.REFERRED)
    auth.login(handler)
    assert _post(client, case, "adv-antwoord", {"adv-answer": "taken_on"}).status_code == 302
    before = _state(case)

    response = _post(client, case, "adv-antwoord", {"adv-answer": "taken_on"})

    assert response.status_code == 422
    form = _form_html(page_text(response), "adv-antwoord")
    assert field_error(form, "adv-answer") == "Dit antwoord staat al vastgelegd."
    assert _state(case) == before


# --- SBB escalation ------------------------------------------------------------------------------


def test_escalation_without_a_linked_company_is_refused(client, auth):
    case, handler, _code = _case(consent_sbb=True, company=False)
    auth.login(handler)
    page = page_text(client.get(f"/behandelen/zaken/{case.id}"))
    assert "/doorzetten" not in page
    assert "Koppel eerst het leerbedrijf uit het register." in page
    before = _state(case)

    response = _post(client, case, "doorzetten", {"sbb-summary": SBB_SUMMARY})

    assert response.status_code == 409
    assert _state(case) == before
    assert count(Investigation) == 0


def test_while_sbb_has_the_case_the_handler_reads_what_comes_next(client, auth):
    case, handler, _code = _case(S.ESCALATED, consent_sbb=True)
    auth.login(handler)

    page = page_text(client.get(f"/behandelen/zaken/{case.id}"))

    assert "De melding ligt bij SBB. Als SBB het onderzoek heeft afgerond" in page
    assert "/afsluiten" not in page
    assert "Er is nu geen stap te zetten." not in page


def test_escalation_without_the_sbb_consent_is_refused(client, auth):
    case, handler, _code = _case(consent_sbb=False)
    auth.login(handler)
    page = page_text(client.get(f"/behandelen/zaken/{case.id}"))
    assert "/doorzetten" not in page
    assert "De student heeft (nog) geen toestemming gegeven voor SBB." in page
    before = _state(case)

    response = _post(client, case, "doorzetten", {"sbb-summary": SBB_SUMMARY})

    assert response.status_code == 409
    assert _state(case) == before
    assert count(Investigation) == 0
    with pytest.raises(WorkflowError):
        workflow.escalate(case, handler, SBB_SUMMARY, False)


def _column_texts(row) -> list[str]:
    return [str(getattr(row, attr.key)) for attr in sa.inspect(type(row)).column_attrs]


@pytest.mark.parametrize(
    ("consented", "chosen"),
    [(False, False), (True, False), (True, True)],
    ids=["no_identity_consent", "consented_not_chosen", "consented_and_chosen"],
)
def test_escalation_holds_exactly_what_is_shared(app, client, auth, consented, chosen):
    case, handler, code = _case(consent_sbb=True, consent_sbb_identity=consented)
    workflow.add_note(case, handler, "GEHEIM-NOTITIE bedrijf gebeld.")
    workflow.student_message(case, "GEHEIM-ANTWOORD het was op dinsdag.")
    db.session.commit()
    auth.login(handler)
    data = {"sbb-summary": f"\n {SBB_SUMMARY}  "}
    if chosen:
        data["sbb-share_identity"] = "y"

    response = _post(client, case, "doorzetten", data)

    assert response.status_code == 302
    fresh = reloaded(case)
    assert fresh.status == S.ESCALATED
    [investigation] = db.session.scalars(sa.select(Investigation)).all()
    shared = {
        attr: getattr(investigation, attr)
        for attr in (
            "company_id",
            "origin",
            "status",
            "case_id",
            "institution_id",
            "created_by_id",
            "summary",
            "shared_grounds",
            "shared_phase",
            "shared_form",
            "shared_incident_month",
            "shares_identity",
            "student_name",
            "student_email",
            "student_phone",
        )
    }
    assert shared == {
        "company_id": fresh.company_id,
        "origin": InvestigationOrigin.ESCALATION,
        "status": InvestigationStatus.RECEIVED,
        "case_id": case.id,
        "institution_id": case.institution_id,
        "created_by_id": handler.id,
        "summary": SBB_SUMMARY,
        "shared_grounds": "origin,religion",
        "shared_phase": "internship",
        "shared_form": "remark",
        "shared_incident_month": date(2026, 3, 1),
        "shares_identity": chosen,
        "student_name": NAME if chosen else None,
        "student_email": EMAIL if chosen else None,
        "student_phone": PHONE if chosen else None,
    }
    texts = " ".join(_column_texts(investigation))
    for never in ("GEHEIM", "hoofddoek", STUDENT_NUMBER, NOTICE_ADDRESS):
        assert never not in texts, never
    [event] = audit_events("case.escalated", case_id=case.id)
    assert json.loads(event.details) == {
        "from_status": "follow_up",
        "to_status": "escalated",
        "investigation_id": investigation.id,
        "company_id": fresh.company_id,
        "shares_identity": chosen,
        "attachment_ids": [],
    }
    page = page_text(client.get(f"/behandelen/zaken/{case.id}"))
    assert "Doorgezet naar SBB" in _timeline(page)
    assert investigation.reference in page
    assert "doorgestuurd naar SBB" in _student_page(app, code)


def test_sharing_the_identity_without_its_consent_is_refused(client, auth):
    case, handler, _code = _case(consent_sbb=True, consent_sbb_identity=False)
    auth.login(handler)
    page = page_text(client.get(f"/behandelen/zaken/{case.id}"))
    assert 'name="sbb-share_identity"' not in _form_html(page, "doorzetten")
    before = _state(case)

    response = _post(
        client, case, "doorzetten", {"sbb-summary": SBB_SUMMARY, "sbb-share_identity": "y"}
    )

    assert response.status_code == 422
    page = page_text(response)
    assert _summary_errors(page)["sbb-share_identity"] == (
        "De student gaf geen toestemming om de naam met SBB te delen."
    )
    assert SBB_SUMMARY in _form_html(page, "doorzetten")
    assert _state(case) == before
    with pytest.raises(WorkflowError) as refused:
        workflow.escalate(case, handler, SBB_SUMMARY, True)
    assert refused.value.field == "share_identity"


def test_refused_share_identity_error_stands_beside_a_field_on_the_page(client, auth):
    case, handler, _code = _case(consent_sbb=True, consent_sbb_identity=False)
    auth.login(handler)

    page = page_text(
        _post(client, case, "doorzetten", {"sbb-summary": SBB_SUMMARY, "sbb-share_identity": "y"})
    )

    assert 'id="sbb-share_identity"' in page
    assert field_error(page, "sbb-share_identity")


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        ("   ", "Schrijf een samenvatting voor SBB, zonder namen."),
        ("Te lang. " * 600, "Deze samenvatting is te lang."),
    ],
    ids=["empty", "too_long"],
)
def test_an_escalation_form_with_errors_says_so_and_keeps_the_summary(
    client, auth, summary, expected
):
    case, handler, _code = _case(consent_sbb=True)
    auth.login(handler)
    before = _state(case)

    response = _post(client, case, "doorzetten", {"sbb-summary": summary})

    assert response.status_code == 422
    form = _form_html(page_text(response), "doorzetten")
    assert field_error(form, "sbb-summary") == expected
    if summary.strip():
        assert summary.strip() in html_lib.unescape(form)
    assert _state(case) == before


# --- Messages to SBB -------------------------------------------------------------------------------


def test_an_escalation_is_mailed_to_the_active_sbb_reviewers_without_content(client, auth):
    case, handler, _code = _case(consent_sbb=True, consent_sbb_identity=True)
    reviewers = [make_user(Role.SBB_REVIEWER, language=lang) for lang in ("nl", "en")]
    make_user(Role.SBB_REVIEWER, active=False)
    db.session.commit()
    auth.login(handler)

    data = {"sbb-summary": SBB_SUMMARY, "sbb-share_identity": "y"}
    assert _post(client, case, "doorzetten", data).status_code == 302

    [investigation] = reloaded(case).investigations
    to_sbb = {m.recipient: m for m in _mails("sbb_escalation")}
    assert sorted(to_sbb) == sorted(r.email for r in reviewers)
    dutch, english = (to_sbb[r.email] for r in reviewers)
    assert investigation.reference in dutch.subject and investigation.reference in english.subject
    assert "doorgezet naar SBB" in dutch.subject and "escalated to SBB" in english.subject
    assert f"/sbb/onderzoeken/{investigation.id}" in dutch.body
    for sent in to_sbb.values():
        for secret in (SBB_SUMMARY, NAME, EMAIL, NARRATIVE):
            assert secret not in sent.subject + sent.body  # a notice, never the content


def test_a_message_to_sbb_is_kept_and_mailed_to_the_active_reviewers(client, auth):
    case, handler, _code = _case(S.ESCALATED, consent_sbb=True)
    reviewers = [make_user(Role.SBB_REVIEWER) for _ in range(2)]
    make_user(Role.SBB_REVIEWER, active=False)
    db.session.commit()
    mails_before = len(_mails())
    auth.login(handler)
    body = "GEHEIM-SBB de student wil graag weten hoe lang het onderzoek duurt."

    response = _post(client, case, "sbb-bericht", {"sbbmsg-body": body})

    assert response.status_code == 302
    [investigation] = reloaded(case).investigations
    [message] = investigation.messages
    assert (message.body, message.from_sbb, message.author_id) == (body, False, handler.id)
    to_sbb = _mails("sbb_message")
    assert len(_mails()) == mails_before + len(reviewers)
    assert sorted(m.recipient for m in to_sbb) == sorted(r.email for r in reviewers)
    for sent in to_sbb:
        assert investigation.reference in sent.subject
        assert "GEHEIM" not in sent.subject + sent.body  # a notice, never the content
    [event] = audit_events("investigation.message_sent", case_id=case.id)
    details = json.loads(event.details)
    assert details["message_id"] == message.id and details["from_sbb"] is False
    assert "GEHEIM" not in event.details
    page = page_text(client.get(f"/behandelen/zaken/{case.id}"))
    assert "Bericht tussen SBB en het meldpunt" in _timeline(page)
    assert body in page


def test_an_empty_message_to_sbb_says_so_beside_the_field(client, auth):
    case, handler, _code = _case(S.ESCALATED, consent_sbb=True)
    auth.login(handler)
    before = _state(case)

    response = _post(client, case, "sbb-bericht", {"sbbmsg-body": "  "})

    assert response.status_code == 422
    form = _form_html(page_text(response), "sbb-bericht")
    assert field_error(form, "sbbmsg-body") == "Schrijf een bericht."
    assert _state(case) == before


# --- The whole way, in the audit trail and the timeline -----------------------------------------


def test_every_step_outside_the_school_is_in_the_audit_trail_and_the_timeline(app, client, auth):
    case, handler, code = _case(consent_adv=False, consent_sbb=False, company=False)
    reply = workflow.student_message(case, "GEHEIM-ANTWOORD ja, het mag naar het ADV en SBB.")
    make_user(Role.SBB_REVIEWER)
    db.session.commit()
    first_event = audit_events(case_id=case.id)[-1].id
    auth.login(handler)
    by_message = {"consent-source": "message", "consent-message_id": str(reply.id)}
    adv_id = str(case.institution.adv_id)
    steps = [
        ("doorverwijzen", {"refer-adv_id": adv_id, "refer-summary": ADV_SUMMARY}, 409),
        ("toestemming", {"consent-kind": "adv", "consent-given": "yes", **by_message}, 302),
        ("doorverwijzen", {"refer-adv_id": adv_id, "refer-summary": ADV_SUMMARY}, 302),
        ("adv-antwoord", {"adv-answer": "taken_on"}, 302),
        ("adv-antwoord", {"adv-answer": "closed", "adv-note": "GEHEIM-UITKOMST bemiddeld."}, 302),
        ("doorzetten", {"sbb-summary": SBB_SUMMARY}, 409),
        ("toestemming", {"consent-kind": "sbb", "consent-given": "yes", **by_message}, 302),
        ("leerbedrijf", {"new_name": "Kapsalon De Schaar BV", "new_city": "Zwolle"}, 302),
        ("doorzetten", {"sbb-summary": SBB_SUMMARY}, 302),
        ("sbb-bericht", {"sbbmsg-body": "GEHEIM-SBB hoe lang duurt het?"}, 302),
    ]

    for route, data, status in steps:
        response = _post(client, case, route, data)
        assert response.status_code == status, (route, page_text(response)[:300])

    steps_taken = [e for e in audit_events(case_id=case.id) if e.id > first_event]
    # The two refused steps showed the case again: each of those is a read in the trail.
    assert [e.action for e in steps_taken].count("case.viewed") == 2
    steps_taken = [e for e in steps_taken if e.action != "case.viewed"]
    assert [e.action for e in steps_taken] == [
        "case.consent_recorded",
        "case.referred",
        "case.adv_answered",
        "case.returned_from_referral",
        "case.consent_recorded",
        "case.company_linked",
        "case.escalated",
        "investigation.message_sent",
    ]
    assert {(e.actor_type, e.actor_id) for e in steps_taken} == {("user", handler.id)}
    for event in steps_taken:
        for secret in ("GEHEIM", "Samenvatting", NAME, EMAIL, PHONE, "hoofddoek"):
            assert secret.lower() not in event.details.lower(), (event.action, secret)
    assert audit.verify_chain()[1] is None

    page = page_text(client.get(f"/behandelen/zaken/{case.id}"))
    timeline = _timeline(page)
    expected_labels = [
        "Toestemming vastgelegd",
        "Doorverwezen naar ADV",
        "Antwoord van het ADV vastgelegd",
        "Terug van ADV",
        "Toestemming vastgelegd",
        "Leerbedrijf gekoppeld",
        "Doorgezet naar SBB",
        "Bericht tussen SBB en het meldpunt",
    ]
    timeline = [label for label in timeline[:-1] if label != "Melding bekeken"] + timeline[-1:]
    assert timeline[-len(expected_labels) - 1 : -1] == expected_labels  # the last is this read
    assert timeline[-1] == "Melding bekeken"
    assert not any(label.startswith(("case.", "investigation.")) for label in timeline)
    assert "doorgestuurd naar SBB" in _student_page(app, code)


# --- Another institution's handler, and the wrong method ------------------------------------------


def _valid(route: str, case: Case) -> dict:
    return {
        "toestemming": {
            "consent-kind": "contact",
            "consent-given": "no",
            "consent-source": "handler",
        },
        "doorverwijzen": {
            "refer-adv_id": str(case.institution.adv_id),
            "refer-summary": ADV_SUMMARY,
        },
        "adv-antwoord": {"adv-answer": "taken_on"},
        "doorzetten": {"sbb-summary": SBB_SUMMARY},
        "sbb-bericht": {"sbbmsg-body": "Hoe staat het ervoor?"},
    }[route]


# The state in which each route would work for the case's own handler.
ROUTE_STATE = {
    "toestemming": S.FOLLOW_UP,
    "doorverwijzen": S.FOLLOW_UP,
    "adv-antwoord": S.REFERRED,
    "doorzetten": S.FOLLOW_UP,
    "sbb-bericht": S.ESCALATED,
}


@pytest.mark.parametrize("route", ROUTES)
def test_a_handler_of_another_institution_gets_404_and_changes_nothing(client, auth, route):
    case, _handler, _code = _case(ROUTE_STATE[route], consent_sbb=True)
    stranger = make_user(Role.HANDLER, make_institution())
    auth.login(stranger)
    before = _state(case)

    response = _post(client, case, route, _valid(route, case))

    assert response.status_code == 404
    assert case.number not in page_text(response)
    assert _state(case) == before


@pytest.mark.parametrize("route", ROUTES)
def test_the_routes_only_take_a_post(client, auth, route):
    case, handler, _code = _case(ROUTE_STATE[route], consent_sbb=True)
    auth.login(handler)
    before = _state(case)

    assert client.get(f"/behandelen/zaken/{case.id}/{route}").status_code == 405
    assert client.get(f"/behandelen/zaken/{case.id + 1000}/{route}").status_code == 405
    assert _state(case) == before
