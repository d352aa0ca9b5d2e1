"""The handler's desk through the browser: login, the inbox, the case page and its forms."""

from __future__ import annotations

import html as html_lib
import re
from datetime import date, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from stagepact import workflow
from stagepact.extensions import db
from stagepact.models import Case, Message, OutboxMail
from stagepact.vocab import Channel, Outcome, Role, Status
from tests.factories import (
    PASSWORD,
    make_case,
    make_company,
    make_institution,
    make_user,
    opened_case_id,
)
from tests.helpers import (
    audit_events,
    changes_in_trail,
    count,
    field_error,
    header_texts,
    in_blueprint,
    page_text,
    reloaded,
    walk_routes,
)

S = Status


# --- Login and logout ---------------------------------------------------------------------


def test_handler_logs_in_and_lands_on_the_inbox(client, auth):
    handler = make_user(Role.HANDLER)

    response = auth.login(handler)

    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/behandelen/"
    assert client.get("/behandelen/").status_code == 200
    assert [e.actor_id for e in audit_events("auth.logged_in")] == [handler.id]
    assert audit_events("auth.login_failed") == []
    assert reloaded(handler).last_login_at is not None


def test_login_ignores_capitals_in_the_email_address(client):
    handler = make_user(Role.HANDLER, email="anna.jansen@example.org")
    db.session.commit()
    response = client.post(
        "/inloggen", data={"email": "  Anna.Jansen@Example.org ", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert [e.actor_id for e in audit_events("auth.logged_in")] == [handler.id]


def _login_error(page: str) -> str:
    match = re.search(r'<div class="error-summary" role="alert".*?</div>', page, re.S)
    assert match, "the page explains that the login failed"
    return match.group(0)


def _same_page(page: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token" value=""', page)


def test_a_failed_login_says_the_same_for_an_unknown_email_and_a_wrong_password(client):
    handler = make_user(Role.HANDLER, email="bekend@example.org")
    db.session.commit()

    unknown = client.post("/inloggen", data={"email": "onbekend@example.org", "password": PASSWORD})
    wrong = client.post("/inloggen", data={"email": "bekend@example.org", "password": "fout"})

    assert unknown.status_code == wrong.status_code == 401
    assert _login_error(page_text(unknown)) == _login_error(page_text(wrong))
    assert "Het e-mailadres of het wachtwoord klopt niet." in _login_error(page_text(wrong))
    # Apart from the address typed (and the CSRF token's timestamp, which
    # moves on when the two requests straddle a second), the pages are the same.
    assert _same_page(page_text(unknown).replace("onbekend@", "X@")) == _same_page(
        page_text(wrong).replace("bekend@", "X@")
    )
    failed = audit_events("auth.login_failed")
    assert len(failed) == 2
    assert {e.actor_type for e in failed} == {"anonymous"}
    assert '"user_id": null' in failed[0].details
    assert f'"user_id": {handler.id}' in failed[1].details
    assert audit_events("auth.logged_in") == []
    assert client.get("/behandelen/").status_code == 302


def test_a_disabled_account_cannot_log_in(client, auth):
    handler = make_user(Role.HANDLER, active=False)

    response = auth.login(handler)

    assert response.status_code == 401
    assert "Het e-mailadres of het wachtwoord klopt niet." in page_text(response)
    assert audit_events("auth.logged_in") == []
    assert len(audit_events("auth.login_failed")) == 1
    assert urlsplit(client.get("/behandelen/").headers["Location"]).path == "/inloggen"


def test_a_handler_disabled_during_their_session_loses_the_desk(client, auth):
    handler = make_user(Role.HANDLER)
    auth.login(handler)
    assert client.get("/behandelen/").status_code == 200

    handler.active = False
    db.session.commit()

    response = client.get("/behandelen/")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/inloggen"


def test_logging_out_needs_a_post(client, auth):
    handler = make_user(Role.HANDLER)
    auth.login(handler)

    assert client.get("/uitloggen").status_code == 405
    assert client.get("/behandelen/").status_code == 200  # still logged in
    assert audit_events("auth.logged_out") == []

    response = client.post("/uitloggen")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/inloggen"
    assert client.get("/behandelen/").status_code == 302
    assert [e.actor_id for e in audit_events("auth.logged_out")] == [handler.id]


# --- The inbox ----------------------------------------------------------------------------


def _listed(response) -> list[int]:
    assert response.status_code == 200
    return [int(i) for i in re.findall(r'href="/behandelen/zaken/(\d+)"', page_text(response))]


@pytest.fixture
def inbox_cases():
    """Five cases of one institution, each a different answer to the filters."""
    institution = make_institution()
    handler = make_user(Role.HANDLER, institution)
    colleague = make_user(Role.HANDLER, institution)

    def case(submitted_at):
        made = make_case(institution)[0]
        made.submitted_at = submitted_at
        return made

    new = case(datetime(2026, 3, 2, 10, 0))
    new.ack_due_on = date(2026, 3, 9)  # long past: overdue
    triage = case(datetime(2026, 3, 10, 10, 0))
    workflow.acknowledge(triage, handler)
    # 23:30 UTC on 10 March is 11 March in the Netherlands.
    late_follow_up = case(datetime(2026, 3, 10, 23, 30))
    workflow.acknowledge(late_follow_up, colleague)
    workflow.start_follow_up(late_follow_up, colleague)
    late_follow_up.feedback_due_on = date(2026, 4, 1)  # past, no feedback yet: overdue
    fed_back = case(datetime(2026, 3, 20, 10, 0))
    workflow.acknowledge(fed_back, handler)
    workflow.start_follow_up(fed_back, handler)
    workflow.send_message(fed_back, handler, "Dit hebben we gedaan.", is_feedback=True)
    fed_back.feedback_due_on = date(2026, 4, 1)  # past, but feedback was given
    closed = case(datetime(2026, 3, 25, 10, 0))
    workflow.acknowledge(closed, handler)
    workflow.close(closed, handler, Outcome.OUT_OF_SCOPE, "Hoort bij een andere school.")
    db.session.commit()
    return handler, {
        "new": new,
        "triage": triage,
        "late_follow_up": late_follow_up,
        "fed_back": fed_back,
        "closed": closed,
    }


OPEN_CASES = {"new", "triage", "late_follow_up", "fed_back"}
ALL_CASES = OPEN_CASES | {"closed"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, OPEN_CASES),
        ({"status": "open"}, OPEN_CASES),
        ({"status": "all"}, ALL_CASES),
        ({"status": "new"}, {"new"}),
        ({"status": "triage"}, {"triage"}),
        ({"status": "follow_up"}, {"late_follow_up", "fed_back"}),
        ({"status": "referred"}, set()),
        ({"status": "closed"}, {"closed"}),
        ({"mine": "y"}, {"triage", "fed_back"}),
        ({"mine": "y", "status": "all"}, {"triage", "fed_back", "closed"}),
        ({"overdue": "y"}, {"new", "late_follow_up"}),
        (
            {"status": "all", "submitted_from": "2026-03-05", "submitted_to": "2026-03-10"},
            {"triage"},
        ),
        (
            {"status": "all", "submitted_from": "2026-03-11"},
            {"late_follow_up", "fed_back", "closed"},
        ),
        ({"status": "all", "submitted_to": "2026-03-10"}, {"new", "triage"}),
        ({"status": "all", "number": "%"}, set()),
    ],
    ids=lambda v: (
        ("&".join(f"{k}={x}" for k, x in v.items()) or "no-filter") if isinstance(v, dict) else ""
    ),
)
def test_inbox_filters_show_exactly_the_matching_cases(client, auth, inbox_cases, query, expected):
    handler, cases = inbox_cases
    auth.login(handler)
    listed = _listed(client.get("/behandelen/", query_string=query))
    assert sorted(listed) == sorted(cases[name].id for name in expected)


def test_inbox_finds_a_case_by_its_number(client, auth, inbox_cases):
    handler, cases = inbox_cases
    auth.login(handler)
    for name, spelled in (("new", str), ("closed", str.lower)):
        number = spelled(cases[name].number)
        listed = _listed(
            client.get("/behandelen/", query_string={"status": "all", "number": number})
        )
        assert listed == [cases[name].id]


def test_inbox_lists_newest_first_and_pages_through_all_cases(client, auth):
    institution = make_institution()
    handler = make_user(Role.HANDLER, institution)
    ids_newest_first = []
    for day in range(1, 6):
        case = make_case(institution)[0]
        case.submitted_at = datetime(2026, 2, day, 12, 0)
        ids_newest_first.insert(0, case.id)
    db.session.commit()
    auth.login(handler)

    pages = [
        _listed(client.get("/behandelen/", query_string={"per_page": 2, "page": n}))
        for n in (1, 2, 3)
    ]
    assert pages == [ids_newest_first[0:2], ids_newest_first[2:4], ids_newest_first[4:5]]

    first = page_text(client.get("/behandelen/", query_string={"per_page": 2, "status": "new"}))
    assert "Pagina 1 van 3" in first
    next_link = html_lib.unescape(re.search(r'href="([^"]+)" rel="next"', first).group(1))
    assert parse_qs(urlsplit(next_link).query) == {
        "page": ["2"],
        "per_page": ["2"],
        "status": ["new"],
    }

    beyond = client.get("/behandelen/", query_string={"per_page": 2, "page": 4})
    assert beyond.status_code == 200
    assert _listed(beyond) == []


def test_inbox_survives_nonsense_in_its_filters(client, auth, inbox_cases):
    handler, cases = inbox_cases
    auth.login(handler)

    response = client.get(
        "/behandelen/?submitted_from=notadate&page=abc&per_page=-5&status=bogus&submitted_to=31-31-2026"
    )

    assert response.status_code == 200
    page = page_text(response)
    assert field_error(page, "submitted_from") == "Ongeldige datum."
    assert field_error(page, "submitted_to") == "Ongeldige datum."
    assert re.search(r'id="submitted_from"[^>]*value="notadate"', page)
    assert re.search(r'id="submitted_to"[^>]*value="31-31-2026"', page)
    assert sorted(_listed(response)) == sorted(cases[name].id for name in OPEN_CASES)

    huge = client.get("/behandelen/", query_string={"per_page": 10**9, "page": 10**9})
    assert huge.status_code == 200 and _listed(huge) == []


# --- The case page ------------------------------------------------------------------------


def _case_in(status: Status, institution=None):
    institution = institution or make_institution()
    handler = make_user(Role.HANDLER, institution)
    case = make_case(institution, consent_adv=True, consent_sbb=True)[0]
    case.company_id = make_company().id
    case.erasure_requested_at = datetime(2026, 3, 2, 10, 0)
    if status != S.NEW:
        workflow.acknowledge(case, handler)
    if status == S.REFERRED:
        workflow.refer(case, handler, institution.adv, "Samenvatting voor het ADV.", False)
    elif status == S.ESCALATED:
        workflow.escalate(case, handler, "Samenvatting voor SBB, zonder namen.", False)
    elif status in (S.FOLLOW_UP, S.CLOSED):
        workflow.start_follow_up(case, handler)
    if status == S.CLOSED:
        workflow.close(case, handler, Outcome.RESOLVED, "Samen opgelost.")
    db.session.commit()
    return case, handler


def test_opening_a_case_is_written_to_the_audit_trail(client, auth):
    case, handler = _case_in(S.NEW)
    auth.login(handler)

    page = client.get(f"/behandelen/zaken/{case.id}")
    assert page.status_code == 200
    assert case.narrative in page_text(page)
    client.get(f"/behandelen/zaken/{case.id}")

    viewed = audit_events("case.viewed", case_id=case.id)
    assert [(e.actor_type, e.actor_id) for e in viewed] == [("user", handler.id)] * 2


# The buttons of the case page, and which of them each state shows (written out by hand).
BUTTONS = {
    "acknowledge": "Ontvangst bevestigen",
    "start_follow_up": "Opvolging starten",
    "close": "Melding afsluiten",
    "reopen": "Melding heropenen",
    "assign": "Toewijzen",
    "message": "Bericht versturen",
    "note": "Notitie opslaan",
    "link_company": "Toevoegen als niet geverifieerd",
    "consent": "Toestemming vastleggen",
    "refer": "Doorverwijzen en mailen",
    "escalate": "Doorzetten naar SBB",
    "adv_answer": "Antwoord vastleggen",
    "sbb_message": "Bericht aan SBB versturen",
    "erase": "Persoonsgegevens wissen",
}
# In these cases the student consented to the ADV and SBB, a company is linked, and the
# student asked for their data to be erased (which a handler may do once it is closed).
OPEN_ACTIONS = {"assign", "message", "note", "link_company", "consent"}
ON_THE_PAGE = {
    S.NEW: {"acknowledge", "close"} | OPEN_ACTIONS,
    S.TRIAGE: {"start_follow_up", "close", "refer", "escalate"} | OPEN_ACTIONS,
    S.FOLLOW_UP: {"close", "refer", "escalate"} | OPEN_ACTIONS,
    S.REFERRED: {"close", "adv_answer"} | OPEN_ACTIONS,
    S.ESCALATED: {"sbb_message"} | OPEN_ACTIONS,
    S.CLOSED: {"reopen", "note", "erase"},
}
ROUTES = {
    "acknowledge": "bevestigen",
    "start_follow_up": "opvolgen",
    "close": "afsluiten",
    "reopen": "heropenen",
    "assign": "toewijzen",
    "message": "bericht",
    "note": "notitie",
    "link_company": "leerbedrijf",
    "consent": "toestemming",
    "refer": "doorverwijzen",
    "escalate": "doorzetten",
    "adv_answer": "adv-antwoord",
    "sbb_message": "sbb-bericht",
    "erase": "wissen",
}


def _buttons(page: str) -> set[str]:
    labels = {label.strip() for label in re.findall(r"<button[^>]*>([^<]*)</button>", page)}
    return {action for action, label in BUTTONS.items() if label in labels}


def _form_actions(page: str) -> set[str]:
    return set(re.findall(r'<form method="post" action="/behandelen/zaken/\d+/([a-z-]+)"', page))


@pytest.mark.parametrize("status", list(Status))
def test_case_page_shows_only_the_buttons_the_state_allows(client, auth, status):
    case, handler = _case_in(status)
    auth.login(handler)

    page = page_text(client.get(f"/behandelen/zaken/{case.id}"))

    assert _buttons(page) == ON_THE_PAGE[status]
    assert _form_actions(page) == {ROUTES[action] for action in ON_THE_PAGE[status]}


def _state(case: Case) -> dict:
    fresh = reloaded(case)
    return {
        "status": fresh.status,
        "outcome": fresh.outcome,
        "closed_at": fresh.closed_at,
        "assigned_to": fresh.assigned_to_id,
        "feedback_at": fresh.feedback_at,
        "messages": count(Message, Message.case_id == case.id),
        "audit events": changes_in_trail(),
        "mails": count(OutboxMail),
    }


def _valid_form(action: str, colleague_id: int) -> dict:
    return {
        "close": {"outcome": str(Outcome.OUT_OF_SCOPE), "message": "Wij sluiten af."},
        "reopen": {"reason": "De student belde opnieuw."},
        "assign": {"assignee": str(colleague_id)},
        "message": {"body": "Kun je langskomen?"},
        "note": {"note-body": "Bedrijf gebeld."},
        "link_company": {"new_name": "Nieuw Leerbedrijf BV", "new_city": "Zwolle"},
        "erase": {"erase-confirm": "y"},
    }.get(action, {})


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (status, action)
        for status in Status
        for action in BUTTONS
        if action not in ON_THE_PAGE[status]
    ],
)
def test_a_step_the_state_does_not_allow_is_refused_with_409_and_changes_nothing(
    client, auth, status, action
):
    case, handler = _case_in(status)
    colleague = make_user(Role.HANDLER, case.institution)
    db.session.commit()
    auth.login(handler)
    before = _state(case)

    response = client.post(
        f"/behandelen/zaken/{case.id}/{ROUTES[action]}", data=_valid_form(action, colleague.id)
    )

    assert response.status_code == 409
    assert "Deze stap kan nu niet bij deze melding." in page_text(response)
    assert _state(case) == before
    # The case was shown again: that is a read, and the trail has it like any other.
    assert audit_events("case.viewed")[-1].case_id == case.id
    assert audit_events("case.viewed")[-1].actor_id == handler.id


def test_handler_takes_a_case_through_every_form_on_its_page(client, auth):
    case, handler = _case_in(S.NEW)
    case.notify_email = "student@example.org"
    colleague = make_user(Role.HANDLER, case.institution)
    db.session.commit()
    auth.login(handler)
    url = f"/behandelen/zaken/{case.id}"

    def submit(route, data=None):
        page = page_text(client.get(url))
        assert route in _form_actions(page), f"the page has no form for {route}"
        response = client.post(f"{url}/{route}", data=data or {})
        assert response.status_code == 302, page_text(response)
        assert response.headers["Location"].endswith(url)
        return reloaded(case)

    assert submit("bevestigen").status == S.TRIAGE
    assert submit("opvolgen").status == S.FOLLOW_UP
    assert submit("toewijzen", {"assignee": str(colleague.id)}).assigned_to_id == colleague.id
    assert submit("toewijzen", {"assignee": ""}).assigned_to_id is None
    after_message = submit("bericht", {"body": "Wij bellen je morgen.", "is_feedback": "y"})
    assert after_message.feedback_at is not None
    assert after_message.messages[-1].body == "Wij bellen je morgen."
    assert submit("notitie", {"note-body": "Alleen voor ons."}).messages[-1].kind == Message.NOTE
    closed = submit("afsluiten", {"outcome": "resolved", "message": "Fijn dat het is opgelost."})
    assert (closed.status, closed.outcome) == (S.CLOSED, Outcome.RESOLVED)
    reopened = submit("heropenen", {"reason": "De student meldde zich opnieuw."})
    assert (reopened.status, reopened.outcome) == (S.FOLLOW_UP, None)

    page = page_text(client.get(url))
    for shown in ("Wij bellen je morgen.", "Alleen voor ons.", "Fijn dat het is opgelost."):
        assert shown in page


def test_handler_closes_a_duplicate_by_the_number_of_the_original(client, auth):
    case, handler = _case_in(S.TRIAGE)
    original = make_case(case.institution)[0]
    db.session.commit()
    auth.login(handler)

    response = client.post(
        f"/behandelen/zaken/{case.id}/afsluiten",
        data={"outcome": "duplicate", "duplicate_of": f" {original.number} ", "message": "Dubbel."},
    )

    assert response.status_code == 302
    closed = reloaded(case)
    assert (closed.outcome, closed.duplicate_of_id) == (Outcome.DUPLICATE, original.id)


# --- Bad input on every form ----------------------------------------------------------------


def _form_html(page: str, route: str) -> str:
    match = re.search(rf'action="/behandelen/zaken/\d+/{route}".*?</form>', page, re.S)
    assert match, f"no {route} form on the page"
    return match.group(0)


def _post_bad(client, case, route, data):
    response = client.post(f"/behandelen/zaken/{case.id}/{route}", data=data)
    assert response.status_code == 422, response.status_code
    return page_text(response)


def test_closing_without_a_message_says_so_and_keeps_the_choices(client, auth):
    case, handler = _case_in(S.TRIAGE)
    auth.login(handler)
    before = _state(case)

    page = _post_bad(client, case, "afsluiten", {"outcome": "out_of_scope", "message": "  "})

    form = _form_html(page, "afsluiten")
    assert field_error(form, "message") == "Schrijf een afsluitend bericht voor de student."
    assert re.search(r'<option selected value="out_of_scope">', form)
    assert _state(case) == before


def test_closing_without_an_outcome_says_so_and_keeps_the_message(client, auth):
    case, handler = _case_in(S.FOLLOW_UP)
    auth.login(handler)
    before = _state(case)

    page = _post_bad(
        client, case, "afsluiten", {"outcome": "", "message": "Mijn getypte afsluiting"}
    )

    form = _form_html(page, "afsluiten")
    assert field_error(form, "outcome") == "Kies een uitkomst."
    assert "Mijn getypte afsluiting" in form
    assert _state(case) == before


def test_closing_with_an_outcome_the_state_does_not_allow_says_so(client, auth):
    case, handler = _case_in(S.NEW)
    auth.login(handler)
    before = _state(case)

    page = _post_bad(client, case, "afsluiten", {"outcome": "resolved", "message": "Opgelost"})

    form = _form_html(page, "afsluiten")
    assert field_error(form, "outcome")
    assert "Opgelost" in form
    assert _state(case) == before


@pytest.mark.parametrize("number", ["2099-9999", "other_institution"])
def test_closing_as_duplicate_of_an_unknown_number_says_so_and_keeps_what_was_typed(
    client, auth, number
):
    case, handler = _case_in(S.TRIAGE)
    if number == "other_institution":
        elsewhere = make_institution()
        number = [make_case(elsewhere)[0] for _ in range(3)][-1].number  # not a number here
    db.session.commit()
    auth.login(handler)
    before = _state(case)

    page = _post_bad(
        client,
        case,
        "afsluiten",
        {"outcome": "duplicate", "duplicate_of": number, "message": "Dit is dubbel gemeld"},
    )

    form = _form_html(page, "afsluiten")
    assert field_error(form, "duplicate_of") == "Geef het zaaknummer van de andere melding."
    assert f'value="{number}"' in form
    assert "Dit is dubbel gemeld" in form
    assert _state(case) == before


def test_reopening_without_a_reason_says_so(client, auth):
    case, handler = _case_in(S.CLOSED)
    auth.login(handler)
    before = _state(case)

    page = _post_bad(client, case, "heropenen", {"reason": "   "})

    assert field_error(_form_html(page, "heropenen"), "reason") == (
        "Geef een reden om de melding te heropenen."
    )
    assert _state(case) == before


@pytest.mark.parametrize(
    ("route", "field", "expected"),
    [("bericht", "body", "Schrijf een bericht."), ("notitie", "note-body", "Schrijf een notitie.")],
)
def test_an_empty_message_or_note_says_so_next_to_its_own_field(
    client, auth, route, field, expected
):
    case, handler = _case_in(S.FOLLOW_UP)
    auth.login(handler)
    before = _state(case)

    page = _post_bad(client, case, route, {field: ""})

    assert field_error(_form_html(page, route), field) == expected
    other = "notitie" if route == "bericht" else "bericht"
    assert 'class="field-error"' not in _form_html(page, other)
    assert _state(case) == before


def test_a_message_that_is_too_long_is_refused_and_kept(client, auth):
    case, handler = _case_in(S.FOLLOW_UP)
    auth.login(handler)
    before = _state(case)
    typed = ("Een heel lang verhaal. " * 1400)[:30000]

    page = _post_bad(client, case, "bericht", {"body": typed})

    form = _form_html(page, "bericht")
    assert field_error(form, "body") == "Dit bericht is te lang."
    assert typed in form
    assert _state(case) == before


def test_assigning_to_an_unknown_id_is_refused(client, auth):
    case, handler = _case_in(S.TRIAGE)
    auth.login(handler)
    before = _state(case)

    page = _post_bad(client, case, "toewijzen", {"assignee": "987654"})

    assert field_error(_form_html(page, "toewijzen"), "assignee")
    assert "Kies een behandelaar." in page
    assert _state(case) == before


# --- Entering a report on a student's behalf ------------------------------------------------

INTAKE = {
    "narrative": "De student belde: het bedrijf wilde geen stagiair met een hoofddoek.",
    "reporter_role": "self",
    "anonymity": "anonymous",
    "contact_preference": "none",
    "grounds": ["religion"],
    "phase": "application",
}


def _intake_code(page: str) -> str:
    match = re.search(r'class="receipt-code"[^>]*>([\d ]+)<', page)
    assert match, "the intake receipt shows the code"
    return match.group(1)


def _intake_form_id(client) -> str:
    """The hidden submission id of a freshly shown intake form, as the browser sends it back."""
    page = page_text(client.get("/behandelen/melding-invoeren"))
    match = re.search(r'<input[^>]*name="submission_id"[^>]*value="([^"]+)"', page)
    assert match, "the intake form carries a submission id"
    return match.group(1)


@pytest.mark.parametrize("channel", [Channel.PHONE, Channel.VISIT, Channel.MAIL])
def test_handler_enters_a_report_for_a_student_who_then_follows_it_with_the_code(
    app, client, auth, channel
):
    institution = make_institution()
    handler = make_user(Role.HANDLER, institution)
    auth.login(handler)

    response = client.post("/behandelen/melding-invoeren", data={**INTAKE, "channel": channel})

    # The code comes in the answer to the POST itself: no redirect that could carry it.
    assert response.status_code == 200
    assert "Location" not in response.headers
    case = db.session.scalar(sa.select(Case))
    assert (case.channel, case.entered_by_id, case.status) == (channel, handler.id, S.NEW)
    assert case.institution_id == institution.id
    assert case.narrative == INTAKE["narrative"]
    receipt = page_text(response)
    assert case.number in receipt
    code = _intake_code(receipt)
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", code)
    for page in ("/behandelen/", f"/behandelen/zaken/{case.id}"):  # shown once
        assert code.replace(" ", "") not in page_text(client.get(page)).replace(" ", "")

    student = app.test_client()
    opened = student.post("/volgen", data={"code": code})
    assert opened.status_code == 302
    assert urlsplit(opened.headers["Location"]).path == "/volgen/melding"
    page = page_text(student.get("/volgen/melding"))
    assert "Je melding is binnen" in page
    assert institution.name in page


def test_entering_a_report_without_a_story_says_so_and_keeps_what_was_typed(client, auth):
    handler = make_user(Role.HANDLER)
    auth.login(handler)

    response = client.post(
        "/behandelen/melding-invoeren",
        data={**INTAKE, "narrative": " ", "channel": "visit", "programme": "Zorg en welzijn"},
    )

    assert response.status_code == 422
    page = page_text(response)
    assert field_error(page, "narrative")
    assert 'value="Zorg en welzijn"' in page
    assert re.search(r'<option selected value="visit">', page)
    assert count(Case) == 0


def test_entering_a_report_as_if_from_the_web_form_is_refused(client, auth):
    handler = make_user(Role.HANDLER)
    auth.login(handler)

    response = client.post("/behandelen/melding-invoeren", data={**INTAKE, "channel": "web"})

    assert response.status_code == 422
    assert field_error(page_text(response), "channel")
    assert INTAKE["narrative"] in page_text(response)
    assert count(Case) == 0


def test_the_intake_code_is_in_no_header_and_no_cookie(app, client, auth):
    handler = make_user(Role.HANDLER)
    auth.login(handler)
    headers = []

    def go(method, url, **kwargs):
        response = getattr(client, method)(url, **kwargs)
        headers.extend(header_texts(app, response))
        return response

    go("get", "/behandelen/")
    submission_id = _intake_form_id(client)
    data = {**INTAKE, "channel": "phone", "submission_id": submission_id}
    entered = go("post", "/behandelen/melding-invoeren", data=data)
    code = _intake_code(page_text(entered)).replace(" ", "")
    case = db.session.scalar(sa.select(Case))
    go("get", f"/behandelen/zaken/{case.id}")
    go("post", "/behandelen/melding-invoeren", data=data)  # re-sent
    go("get", "/behandelen/")
    go("post", f"/behandelen/zaken/{case.id}/bevestigen")
    go("get", f"/behandelen/zaken/{case.id}")

    assert any('"browser"' in text for text in headers)  # the scan reads the session
    for text in headers:
        assert code not in re.sub(r"[\s\-.+]|%20", "", text), text


def test_a_resent_intake_enters_no_second_case_and_shows_its_code_only_to_its_handler(
    app, client, auth
):
    handler = make_user(Role.HANDLER)
    colleague = make_user(Role.HANDLER, handler.institution)
    auth.login(handler)
    data = {**INTAKE, "channel": "visit", "submission_id": _intake_form_id(client)}
    first = client.post("/behandelen/melding-invoeren", data=data)
    code = _intake_code(page_text(first))
    assert count(Case) == 1

    again = client.post("/behandelen/melding-invoeren", data=data)  # a reload
    assert again.status_code == 200 and _intake_code(page_text(again)) == code

    other = app.test_client()
    other.post("/inloggen", data={"email": colleague.email, "password": PASSWORD})
    copied = other.post("/behandelen/melding-invoeren", data=data)
    assert copied.status_code == 302
    assert urlsplit(copied.headers["Location"]).path == "/behandelen/"
    inbox = page_text(other.get(copied.headers["Location"]))
    assert "al opgeslagen" in inbox
    for page in (page_text(copied), inbox):
        assert 'class="receipt-code"' not in page
        assert code.replace(" ", "") not in page.replace(" ", "")
    assert count(Case) == 1
    assert len(audit_events("case.submitted")) == 1


def test_two_intakes_in_one_session_each_get_their_own_case_and_code(app, client, auth):
    institution = make_institution()
    handler = make_user(Role.HANDLER, institution)
    auth.login(handler)
    first_form, second_form = _intake_form_id(client), _intake_form_id(client)
    assert first_form != second_form

    entered = []
    for submission_id, narrative in [
        (first_form, "Eerste student belde over een weigering."),
        (second_form, "Tweede student kwam langs over een opmerking."),
    ]:
        data = {
            **INTAKE,
            "channel": "phone",
            "narrative": narrative,
            "submission_id": submission_id,
        }
        response = client.post("/behandelen/melding-invoeren", data=data)
        assert response.status_code == 200
        entered.append((narrative, _intake_code(page_text(response))))

    assert count(Case) == 2
    assert entered[0][1] != entered[1][1]
    for narrative, code in entered:
        student = app.test_client()
        assert student.post("/volgen", data={"code": code}).status_code == 302
        case = db.session.scalar(sa.select(Case).where(Case.id == opened_case_id(student)))
        assert case.narrative == narrative and case.institution_id == institution.id


# --- CSRF ---------------------------------------------------------------------------------------


def _token(page: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def _login_with_token(client, user) -> None:
    db.session.commit()
    token = _token(page_text(client.get("/inloggen")))
    response = client.post(
        "/inloggen", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302


def test_every_desk_form_and_logout_is_refused_without_a_csrf_token(app, client, csrf_enabled):
    new_case, handler = _case_in(S.NEW)
    closed_case, _other = _case_in(S.CLOSED, institution=new_case.institution)
    colleague = make_user(Role.HANDLER, new_case.institution)
    _login_with_token(client, handler)
    before = {case.id: _state(case) for case in (new_case, closed_case)}
    cases_before = count(Case)

    cases = {"case_id": [new_case.id, closed_case.id]}
    posts = [r.url for r in walk_routes(app, cases, where=in_blueprint("desk"), methods=["POST"])]
    posts.append("/uitloggen")
    assert len(posts) > 10

    data = {
        **INTAKE,
        "channel": "phone",
        "outcome": "out_of_scope",
        "message": "Afgesloten.",
        "reason": "Opnieuw.",
        "assignee": str(colleague.id),
        "body": "Hallo.",
    }
    answers = {url: client.post(url, data=data).status_code for url in posts}

    assert {url: code for url, code in answers.items() if code != 400} == {}
    assert {case.id: _state(case) for case in (new_case, closed_case)} == before
    assert count(Case) == cases_before
    assert client.get("/behandelen/").status_code == 200  # the logout was refused too

    # The same step with the page's token goes through.
    token = _token(page_text(client.get(f"/behandelen/zaken/{new_case.id}")))
    done = client.post(f"/behandelen/zaken/{new_case.id}/bevestigen", data={"csrf_token": token})
    assert done.status_code == 302
    assert reloaded(new_case).status == S.TRIAGE


def test_every_id_on_the_case_page_is_unique(app, client, auth):
    case, handler = _case_in(S.FOLLOW_UP)
    auth.login(handler)
    app.config["WTF_CSRF_ENABLED"] = True  # the tokens render as they do in production
    try:
        response = client.get(f"/behandelen/zaken/{case.id}")
    finally:
        app.config["WTF_CSRF_ENABLED"] = False

    assert response.status_code == 200
    page = page_text(response)
    assert page.count('name="csrf_token"') > 3
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
