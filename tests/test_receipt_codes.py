"""Receipt codes: random, shown once, stored only as a keyed hash, never in a URL or a mail."""

from __future__ import annotations

import re
import secrets

import pytest
import sqlalchemy as sa

from stagepact import workflow
from stagepact.crypto import (
    format_receipt_code,
    hash_receipt_code,
    new_receipt_code,
    normalise_receipt_code,
)
from stagepact.extensions import db
from stagepact.models import AuditEvent, Case, OutboxMail
from stagepact.scoping import case_for_receipt_code
from tests.factories import make_case, make_meldpunt, make_user, opened_case_id
from tests.helpers import count, field_error, header_texts

REPORT = {
    "narrative": "De stagebegeleider zei dat ik met mijn accent niet aan de balie mocht.",
    "reporter_role": "self",
    "anonymity": "anonymous",
    "contact_preference": "none",
    "grounds": ["language"],
}
GENERIC_ERROR = "Met deze code kunnen we geen melding openen."


def _code_on(html: str) -> str:
    match = re.search(r'class="receipt-code"[^>]*>([\d ]+)<', html)
    assert match, "the receipt page shows the code"
    return match.group(1)


def _all_stored_text() -> str:
    values = []
    with db.engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            query = sa.text(f'SELECT * FROM "{table}"')  # noqa: S608 (names from the schema)
            for row in conn.execute(query):
                values.extend(str(value) for value in row)
    return "\n".join(values)


def _submission_id_on(html: str) -> str:
    match = re.search(r'<input[^>]*name="submission_id"[^>]*value="([^"]+)"', html)
    assert match, "the report form carries a submission id"
    return match.group(1)


def _submission_id(client, institution) -> str:
    """The hidden id of a freshly shown report form, as the browser sends it back."""
    page = client.get(f"/meldpunt/{institution.slug}/melden").get_data(as_text=True)
    return _submission_id_on(page)


def _report(client, institution) -> str:
    """Submit a report; the code is in the answer to the POST itself, not behind a redirect."""
    response = client.post(f"/meldpunt/{institution.slug}/melden", data=REPORT)
    assert response.status_code == 200
    assert "Location" not in response.headers
    return _code_on(response.get_data(as_text=True))


def _compact(text: str) -> str:
    return re.sub(r"[\s\-.+]|%20", "", text)


# --- Making, showing and reading a code ------------------------------------------


def test_new_code_is_sixteen_ascii_digits():
    for _ in range(50):
        code = new_receipt_code()
        assert re.fullmatch(r"[0-9]{16}", code) and code.isascii()


def test_new_code_comes_from_the_secrets_module(monkeypatch):
    asked = []

    def fake_randbelow(bound):
        asked.append(bound)
        return 42

    monkeypatch.setattr(secrets, "randbelow", fake_randbelow)

    assert new_receipt_code() == "0000000000000042"
    assert asked == [10**16]


def test_reported_case_gets_its_code_from_the_secrets_module(client, monkeypatch):
    institution = make_meldpunt()
    db.session.commit()
    monkeypatch.setattr(secrets, "randbelow", lambda bound: 7)

    assert _report(client, institution) == "0000 0000 0000 0007"


def test_a_thousand_codes_are_all_different():
    codes = {new_receipt_code() for _ in range(1000)}
    assert len(codes) == 1000


def test_code_is_shown_in_groups_of_four():
    assert format_receipt_code("1234567890123456") == "1234 5678 9012 3456"
    assert format_receipt_code("0000000000000042") == "0000 0000 0000 0042"


@pytest.mark.parametrize(
    "typed",
    [
        "1234567890123456",
        "1234 5678 9012 3456",
        "1234-5678-9012-3456",
        "  1234 5678 9012 3456  ",
        "1234--5678  9012\t3456",
        "1234.5678.9012.3456",
    ],
)
def test_typed_code_may_have_spaces_and_dashes(typed):
    assert normalise_receipt_code(typed) == "1234567890123456"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "1234 5678 9012 345a",
        "abcd efgh ijkl mnop",
        "123456789012345",  # 15 digits
        "12345678901234567",  # 17 digits
        "1234 5678 9012 3456 7890",
        "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦",  # Arabic-Indic digits
        "1234 5678 9012 3456 ٧",  # sixteen ASCII digits and one Arabic-Indic
        "１２３４５６７８９０１２３４５６",  # full-width digits
        "1234 5678 9012 3456²",  # a superscript counts as a digit to str.isdigit
        "1234+5678+9012+3456",
    ],
)
def test_typed_code_with_letters_wrong_length_or_other_digits_is_refused(typed):
    assert normalise_receipt_code(typed) is None


def test_normalising_a_shown_code_gives_it_back():
    for _ in range(20):
        code = new_receipt_code()
        assert normalise_receipt_code(format_receipt_code(code)) == code


# --- Storing only a keyed hash --------------------------------------------------------


def test_hash_is_deterministic_and_depends_on_the_code():
    assert hash_receipt_code("1234567890123456") == hash_receipt_code("1234567890123456")
    assert re.fullmatch(r"[0-9a-f]{64}", hash_receipt_code("1234567890123456"))
    assert hash_receipt_code("1234567890123456") != hash_receipt_code("1234567890123457")


def test_hash_depends_on_the_pepper(app, monkeypatch):
    case, code = make_case()
    db.session.commit()
    with_test_pepper = hash_receipt_code(code)
    assert case.receipt_hash == with_test_pepper
    assert case_for_receipt_code(code) == case

    monkeypatch.setitem(app.config, "RECEIPT_PEPPER", "another-pepper-entirely")

    assert hash_receipt_code(code) != with_test_pepper
    assert case_for_receipt_code(code) is None


def test_plaintext_code_is_in_no_column_of_the_database(client):
    institution = make_meldpunt()
    make_user(institution=institution)
    db.session.commit()
    shown = _report(client, institution)
    code = shown.replace(" ", "")

    stored = _all_stored_text()

    assert db.session.scalar(sa.select(Case.receipt_hash)) in stored  # the scan sees the case
    assert code not in stored
    assert shown not in stored
    assert code not in stored.replace(" ", "").replace("-", "")


# --- Where the code goes, and where it never goes --------------------------------------


def test_code_never_appears_in_a_url_or_in_mail(client):
    institution = make_meldpunt()
    handler = make_user(institution=institution)
    db.session.commit()
    visited = []

    def go(method, url, **kwargs):
        response = getattr(client, method)(url, **kwargs)
        visited.append(url)
        location = response.headers.get("Location")
        if location:
            visited.append(location)
        return response

    go("get", f"/meldpunt/{institution.slug}")
    form_page = go("get", f"/meldpunt/{institution.slug}/melden").get_data(as_text=True)
    report = {**REPORT, "submission_id": _submission_id_on(form_page)}
    submitted = go("post", f"/meldpunt/{institution.slug}/melden", data=report)
    receipt_page = submitted.get_data(as_text=True)
    shown = _code_on(receipt_page)
    code = shown.replace(" ", "")
    notice_action = re.search(
        r'<form[^>]*action="([^"]+)"[^>]*aria-labelledby="notice-title"', receipt_page
    ).group(1)
    assert notice_action == "/volgen/melding/meldingen-per-mail"
    go("post", notice_action, data={"notify_email": "student.code@voorbeeld.nl"})
    go("get", "/volgen/melding")
    resent_page = go("post", f"/meldpunt/{institution.slug}/melden", data=report)
    go("post", "/volgen/stoppen")
    opened = go("post", "/volgen", data={"code": shown})
    assert opened.status_code == 302
    case_page = go("get", opened.headers["Location"]).get_data(as_text=True)
    go("post", "/volgen/melding/bericht", data={"body": "Nog iets."})

    case = db.session.scalar(sa.select(Case))
    workflow.acknowledge(case, handler)
    workflow.send_message(case, handler, "We nemen contact op.")
    db.session.commit()
    go("post", "/volgen/melding/intrekken", data={"confirm": "y"})

    assert len(visited) >= 15
    for url in visited:
        assert code not in url.replace("%20", "").replace("+", "").replace(" ", ""), url
    links = re.findall(
        r'(?:href|action)="([^"]*)"', receipt_page + resent_page.get_data(as_text=True) + case_page
    )
    assert links and not any(code in link.replace(" ", "") for link in links)

    mails = db.session.scalars(sa.select(OutboxMail)).all()
    recipients = {mail.recipient for mail in mails}
    assert {"student.code@voorbeeld.nl", handler.email} <= recipients
    for mail in mails:
        for text in (mail.subject, mail.body):
            compact = re.sub(r"[\s\-.]", "", text)
            assert code not in compact, mail.purpose


def test_receipt_page_shows_the_code_once_and_again_only_to_the_browser_that_resends(
    app, client, time_machine
):
    institution = make_meldpunt()
    db.session.commit()
    report = {**REPORT, "submission_id": _submission_id(client, institution)}
    response = client.post(f"/meldpunt/{institution.slug}/melden", data=report)

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    shown = _code_on(page)
    code = shown.replace(" ", "")
    assert page.count(shown) == 1
    assert code not in page

    # The same browser sends the POST again (a reload, or a retry after the answer was
    # lost): the same code, and no second case.
    again = client.post(f"/meldpunt/{institution.slug}/melden", data=report)
    assert _code_on(again.get_data(as_text=True)) == shown
    assert count(Case) == 1
    assert shown not in client.get("/volgen/melding").get_data(as_text=True)

    # Another browser with the same form (a copied request) learns nothing.
    other = app.test_client()
    copied = other.post(f"/meldpunt/{institution.slug}/melden", data=report).get_data(as_text=True)
    assert "Je melding is al verstuurd" in copied and 'class="receipt-code"' not in copied
    assert code not in _compact(copied)

    # Nor does this browser once the case is closed on it ("stop on this device")...
    client.post("/volgen/stoppen")
    after_stop = client.post(f"/meldpunt/{institution.slug}/melden", data=report)
    assert 'class="receipt-code"' not in after_stop.get_data(as_text=True)
    assert count(Case) == 1


def test_a_kept_code_is_shown_again_for_two_hours_and_then_wiped(app, client, time_machine):
    from stagepact import jobs
    from stagepact.models import Submission

    institution = make_meldpunt()
    db.session.commit()
    time_machine.move_to("2026-03-02 09:00:00+00:00", tick=False)
    report = {**REPORT, "submission_id": _submission_id(client, institution)}
    shown = _code_on(client.post(f"/meldpunt/{institution.slug}/melden", data=report).text)

    time_machine.move_to("2026-03-02 10:59:00+00:00", tick=False)
    assert _code_on(client.post(f"/meldpunt/{institution.slug}/melden", data=report).text) == shown
    time_machine.move_to("2026-03-02 11:01:00+00:00", tick=False)
    late = client.post(f"/meldpunt/{institution.slug}/melden", data=report).text
    assert "Je melding is al verstuurd" in late and shown not in late

    jobs.purge_uploads()
    [kept] = db.session.scalars(sa.select(Submission)).all()
    assert kept.receipt_code is None
    raw = db.session.execute(sa.text("SELECT receipt_code FROM submission")).scalar()
    assert raw is None
    assert count(Case) == 1


def test_code_opens_its_case_whichever_meldpunt_the_student_came_through(client):
    home = make_meldpunt(name="Noorderpoort Testcollege")
    other = make_meldpunt(name="Zuiderzee Testcollege")
    db.session.commit()
    code = _report(client, other)
    client.post("/volgen/stoppen")

    client.get(f"/meldpunt/{home.slug}")
    opened = client.post("/volgen", data={"code": code})

    assert opened.status_code == 302
    page = client.get("/volgen/melding").get_data(as_text=True)
    assert "Zuiderzee Testcollege" in page
    assert "Noorderpoort Testcollege" not in page


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "1234 5678 9012 3456",  # well-formed, no such case
        "0000-0000-0000-0000",
        "12",
        "abcd",
        "1234567890123456789",
        "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦",
        "9" * 80,  # longer than the field allows
        "<script>alert(1)</script>",
    ],
)
def test_wrong_malformed_or_empty_code_gets_the_one_generic_error(client, typed):
    institution = make_meldpunt()
    db.session.commit()
    real_code = _report(client, institution)
    client.post("/volgen/stoppen")
    assert typed.replace(" ", "") != real_code.replace(" ", "")

    response = client.post("/volgen", data={"code": typed})

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert field_error(html, "code").startswith(GENERIC_ERROR)
    assert html.count('class="field-error"') == 1
    assert client.get("/volgen/melding").status_code == 302  # nothing was opened


def test_code_is_in_no_response_header_or_cookie_of_the_whole_journey(app, client):
    institution = make_meldpunt()
    handler = make_user(institution=institution)
    db.session.commit()
    headers = []

    def go(method, url, **kwargs):
        response = getattr(client, method)(url, **kwargs)
        headers.extend(header_texts(app, response))
        return response

    go("get", "/")
    go("get", f"/meldpunt/{institution.slug}")
    form_page = go("get", f"/meldpunt/{institution.slug}/melden").get_data(as_text=True)
    report = {**REPORT, "submission_id": _submission_id_on(form_page)}
    submitted = go("post", f"/meldpunt/{institution.slug}/melden", data=report)
    shown = _code_on(submitted.get_data(as_text=True))
    code = shown.replace(" ", "")
    go("post", "/volgen/melding/meldingen-per-mail", data={"notify_email": "s.code@voorbeeld.nl"})
    go("get", "/volgen/melding")
    go("post", f"/meldpunt/{institution.slug}/melden", data=report)  # re-sent
    go("post", "/volgen/melding/bericht", data={"body": "Nog iets."})
    go("post", "/volgen/stoppen")
    go("get", "/volgen")
    go("post", "/volgen", data={"code": shown})
    go("get", "/volgen/melding")
    case = db.session.scalar(sa.select(Case))
    workflow.acknowledge(case, handler)
    workflow.send_message(case, handler, "We nemen contact op.")
    db.session.commit()
    go("get", "/volgen/melding")
    go("get", "/volgen/melding/intrekken")
    go("post", "/volgen/melding/intrekken", data={"confirm": "y"})
    go("get", "/volgen/melding")

    # The scan reads the session as the browser holds it: the follow-up is in there.
    assert any('"follow_up"' in text for text in headers)
    for text in headers:
        assert code not in _compact(text), text
        assert shown not in text, text


def test_resending_the_same_report_opens_no_second_case_and_shows_the_same_code(client):
    institution = make_meldpunt()
    make_user(institution=institution)
    db.session.commit()
    report = {**REPORT, "submission_id": _submission_id(client, institution)}
    first = client.post(f"/meldpunt/{institution.slug}/melden", data=report)
    code = _code_on(first.get_data(as_text=True))
    case = db.session.scalar(sa.select(Case))
    mails = count(OutboxMail)

    for _ in range(2):  # a reload, then the back button and another send
        again = client.post(f"/meldpunt/{institution.slug}/melden", data=report)

        assert again.status_code == 200
        assert _code_on(again.get_data(as_text=True)) == code

    assert count(Case) == 1
    submitted = sa.select(AuditEvent).where(AuditEvent.action == "case.submitted")
    assert len(db.session.scalars(submitted).all()) == 1
    assert count(OutboxMail) == mails  # the handlers hear of one new case, once
    # This browser still follows the one case that was made.
    assert client.get("/volgen/melding").status_code == 200
    assert opened_case_id(client) == case.id


def test_two_reports_in_one_session_each_get_their_own_case_and_code(app, client):
    institution = make_meldpunt()
    make_user(institution=institution)
    db.session.commit()
    first_id, second_id = _submission_id(client, institution), _submission_id(client, institution)
    assert first_id != second_id

    shown = {}
    for submission_id, narrative in [
        (first_id, "Eerste melding: de stagebegeleider lachte om mijn accent."),
        (second_id, "Tweede melding: ik mocht niet mee naar de klant."),
    ]:
        data = {**REPORT, "narrative": narrative, "submission_id": submission_id}
        response = client.post(f"/meldpunt/{institution.slug}/melden", data=data)
        assert response.status_code == 200
        shown[narrative] = _code_on(response.get_data(as_text=True))
        # This browser now follows the report it just sent.
        assert db.session.get(Case, opened_case_id(client)).narrative == narrative

    assert count(Case) == 2
    assert len(set(shown.values())) == 2
    for narrative, code in shown.items():
        student = app.test_client()
        assert student.post("/volgen", data={"code": code}).status_code == 302
        assert db.session.get(Case, opened_case_id(student)).narrative == narrative
