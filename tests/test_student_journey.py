"""A student reports, comes back with the code, answers, and withdraws."""

import re

import sqlalchemy as sa

from stagepact.extensions import db
from stagepact.models import AuditEvent, Case, Message, OutboxMail
from stagepact.vocab import Outcome, Status
from tests.factories import make_institution, make_meldpunt, make_user

REPORT = {
    "narrative": "Ik mocht niet op gesprek komen omdat ik een hoofddoek draag.",
    "reporter_role": "self",
    "anonymity": "anonymous",
    "contact_preference": "none",
    "grounds": ["religion"],
    "phase": "application",
}


def _submit(client, institution, **overrides):
    data = {**REPORT, **overrides}
    return client.post(f"/meldpunt/{institution.slug}/melden", data=data)


def _code_from(html: str) -> str:
    match = re.search(r'class="receipt-code"[^>]*>([\d ]+)<', html)
    assert match, "the receipt page shows the code"
    return match.group(1)


def _submission_id(html: str) -> str:
    """The hidden id the report form carries, as a browser would send it back."""
    match = re.search(r'<input[^>]*name="submission_id"[^>]*value="([^"]+)"', html)
    assert match, "the report form carries a submission id"
    return match.group(1)


def test_student_reports_anonymously_and_gets_a_receipt_code_once(client):
    institution = make_institution()
    make_user(institution=institution)
    db.session.commit()

    form = client.get(f"/meldpunt/{institution.slug}/melden").get_data(as_text=True)
    submission_id = _submission_id(form)
    response = _submit(client, institution, submission_id=submission_id)
    # The code comes in the answer to the POST itself: no redirect that could carry it.
    assert response.status_code == 200
    assert "Location" not in response.headers
    code = _code_from(response.get_data(as_text=True))
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", code)

    # Re-sending the form from this browser (a reload, or a retry when the answer was lost)
    # opens no second case and shows the same code (tests/test_receipt_codes.py has more).
    resent = _submit(client, institution, submission_id=submission_id)
    assert _code_from(resent.get_data(as_text=True)) == code
    case_page = client.get("/volgen/melding").get_data(as_text=True)
    assert "Je melding is binnen" in case_page
    assert code not in case_page and code.replace(" ", "") not in case_page

    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 1
    case = db.session.scalar(sa.select(Case))
    assert case.status == Status.NEW
    assert case.is_anonymous and case.reporter_name is None
    assert code.replace(" ", "") not in case.receipt_hash
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMail)) == 1


def test_student_journey_from_report_to_withdrawal(client, app):
    institution = make_meldpunt()
    handler = make_user(institution=institution)
    db.session.commit()

    code = _code_from(_submit(client, institution).get_data(as_text=True))
    client.post("/volgen/stoppen")
    assert client.get("/volgen/melding").status_code == 302

    opened = client.post("/volgen", data={"code": code})
    assert opened.status_code == 302
    page = client.get("/volgen/melding").get_data(as_text=True)
    assert "Je melding is binnen" in page

    case = db.session.scalar(sa.select(Case))
    from stagepact import workflow

    workflow.acknowledge(case, handler)
    workflow.start_follow_up(case, handler)
    workflow.send_message(case, handler, "Wanneer was het gesprek precies?")
    db.session.commit()

    page = client.get("/volgen/melding").get_data(as_text=True)
    assert "Wanneer was het gesprek precies?" in page
    assert "In behandeling" not in page  # student words, not staff words
    assert "Het meldpunt is met je melding bezig." in page

    answer = client.post("/volgen/melding/bericht", data={"body": "Op 3 maart."})
    assert answer.status_code == 302
    assert "Op 3 maart." in client.get("/volgen/melding").get_data(as_text=True)

    refused = client.post("/volgen/melding/intrekken", data={"reason": "Ik wil niet meer."})
    assert refused.status_code == 422
    withdrawn = client.post(
        "/volgen/melding/intrekken", data={"reason": "Ik wil niet meer.", "confirm": "y"}
    )
    assert withdrawn.status_code == 302
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert case.status == Status.CLOSED and case.outcome == Outcome.WITHDRAWN
    kinds = [m.kind for m in case.messages]
    assert kinds == [Message.TO_STUDENT, Message.FROM_STUDENT, Message.FROM_STUDENT]
    actions = db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.case_id == case.id).order_by(AuditEvent.id)
    ).all()
    assert actions[0] == "case.submitted" and actions[-1] == "case.withdrawn"


def test_wrong_code_gets_one_generic_message(client):
    institution = make_meldpunt()
    db.session.commit()
    _submit(client, institution)
    client.post("/volgen/stoppen")

    messages = set()
    for typed in ["1234 5678 9012 3456", "12", "abcd", "1234567890123456789"]:
        response = client.post("/volgen", data={"code": typed})
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        messages.add(re.search(r'class="field-error"[^>]*>(.*?)</p>', html, re.S).group(1).strip())
    assert len(messages) == 1


def test_meldpunt_always_points_outside_the_school(client):
    with_adv = make_meldpunt()
    without_adv = make_meldpunt()
    without_adv.adv = None
    db.session.commit()

    page = client.get(f"/meldpunt/{with_adv.slug}").get_data(as_text=True)
    assert with_adv.adv.name in page and with_adv.adv.phone in page

    page = client.get(f"/meldpunt/{without_adv.slug}").get_data(as_text=True)
    assert "Je kunt ook buiten school melden" in page
    assert "discriminatie.nl" in page


def test_a_message_typed_while_the_page_timed_out_is_kept_and_sent_after_the_code(client):
    institution = make_meldpunt()
    make_user(institution=institution)
    db.session.commit()
    code = _code_from(_submit(client, institution).get_data(as_text=True))
    client.post("/volgen/stoppen")  # as if the follow-up session expired

    typed = "Ik heb nog een screenshot van de afwijzing."
    response = client.post("/volgen/melding/bericht", data={"body": typed})

    assert response.status_code == 401
    assert typed in response.get_data(as_text=True)
    opened = client.post("/volgen", data={"code": code, "pending_message": typed})
    assert opened.status_code == 302
    case = db.session.scalar(sa.select(Case))
    assert [m.body for m in case.messages if m.kind == Message.FROM_STUDENT] == [typed]


def test_student_picks_the_company_from_the_register_without_losing_what_they_typed(client):
    from tests.factories import make_company

    institution = make_meldpunt()
    company = make_company(name="Bakkerij De Korf", city="Zwolle", kvk="12345678")
    make_company(name="Garage Snel", city="Assen")
    db.session.commit()
    form = {**REPORT, "company_search": "korf zwolle", "find_company": "1"}

    searched = client.post(f"/meldpunt/{institution.slug}/melden", data=form)

    html = searched.get_data(as_text=True)
    assert searched.status_code == 200
    assert "Bakkerij De Korf, Zwolle (KvK 12345678)" in html and "Garage Snel" not in html
    assert REPORT["narrative"] in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0

    chosen = {k: v for k, v in form.items() if k != "find_company"}
    chosen["company_id"] = str(company.id)
    response = client.post(f"/meldpunt/{institution.slug}/melden", data=chosen)

    assert 'class="receipt-code"' in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(Case)).company_id == company.id


def test_a_company_id_that_was_not_offered_is_refused_with_the_form_kept(client):
    institution = make_meldpunt()
    db.session.commit()

    response = client.post(
        f"/meldpunt/{institution.slug}/melden", data={**REPORT, "company_id": "999999"}
    )

    assert response.status_code == 422
    assert REPORT["narrative"] in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0


def test_searching_the_register_by_kvk_number():
    from stagepact import companies
    from tests.factories import make_company

    company = make_company(name="Zorgcentrum Het Anker", kvk="87654321")
    make_company(name="Ankerplaats BV", kvk="87654322")

    assert companies.search("87654321") == [company]
    assert [c.name for c in companies.search("anker")] == [
        "Ankerplaats BV",
        "Zorgcentrum Het Anker",
    ]
    assert companies.search("   ") == []
