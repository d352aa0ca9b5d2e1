"""SBB's side of the chain: the queue, investigations, decisions and recognition, signals.

An SBB reviewer reads investigations (a copy of what a school shared) and counts of
reports per company, never a case. Expectations are written out by hand from
DESIGN.md "SBB and recognition" and the roles table, not derived from the code.
"""

from __future__ import annotations

import html as html_lib
import json
import re
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from stagepact import audit, deadlines, disclosure, investigations, signals, workflow
from stagepact.extensions import db
from stagepact.models import (
    AuditEvent,
    Case,
    Investigation,
    InvestigationMessage,
    OutboxMail,
    RecognitionChange,
)
from stagepact.vocab import (
    Decision,
    InvestigationOrigin,
    InvestigationStatus,
    Outcome,
    Recognition,
    Role,
    Status,
)
from tests.factories import PASSWORD, make_case, make_company, make_institution, make_user
from tests.helpers import (
    audit_events,
    changes_in_trail,
    count,
    field_error,
    in_blueprint,
    page_text,
    reloaded,
    walk_routes,
)

IS = InvestigationStatus
R = Recognition
D = Decision

NARRATIVE = "Op het sollicitatiegesprek zei de eigenaar dat een hoofddoek niet bij de klanten past."
SUMMARY = "Studente afgewezen bij de sollicitatie; het bedrijf noemde haar hoofddoek."
NOTE = "Interne notitie: de stagecoordinator kent dit bedrijf al langer."
TO_STUDENT = "Wij hebben je melding goed ontvangen en bellen je deze week."
FROM_STUDENT = "Ik heb nog een mail van het bedrijf gevonden."
REASONING = "Uit gesprekken met bedrijf en school blijkt dat de afwijzing om de hoofddoek ging."
CONDITIONS = "Het bedrijf volgt een training over gelijke behandeling bij de werving."
OBJECTION_REASONING = "Het bedrijf toont aan dat de afwijzing een andere reden had."
SIGNAL_REASON = "Meldingen van drie scholen noemen dit bedrijf; SBB kijkt zelf."
STUDENT = {
    "is_anonymous": False,
    "reporter_name": "Fatima Yilmaz",
    "email": "fatima.yilmaz@example.org",
    "phone": "0612345678",
    "student_number": "S7654321",
    "programme": "Verzorgende IG",
}

# What each decision does to a recognised company (DESIGN.md: each measure changes
# the recognition; no action and a conversation leave it as it was).
RECOGNITION_AFTER = {
    D.NO_ACTION: R.RECOGNISED,
    D.CONVERSATION: R.RECOGNISED,
    D.IMPROVEMENT: R.UNDER_CONDITIONS,
    D.WARNING: R.UNDER_CONDITIONS,
    D.SUSPENSION: R.SUSPENDED,
    D.REVOCATION: R.REVOKED,
}
MEASURES = [D.IMPROVEMENT, D.WARNING, D.SUSPENSION, D.REVOCATION]
NOT_MEASURES = [D.NO_ACTION, D.CONVERSATION]

# The investigation's steps and their routes under /sbb/onderzoeken/<id>/.
STEP_ROUTES = {
    "start": "starten",
    "decide": "besluit",
    "object": "bezwaar",
    "resolve_objection": "bezwaar-besluit",
    "close": "afsluiten",
}
# Which steps each state allows, by hand: received -> investigating -> decided -> closed,
# an objection only after a measure and only once.
STATES = [
    "received",
    "investigating",
    "decided_measure",
    "decided_no_action",
    "objection",
    "objection_resolved",
    "closed",
]
EXPECTED_STEPS = {
    "received": {"start"},
    "investigating": {"decide"},
    "decided_measure": {"object", "close"},
    "decided_no_action": {"close"},
    "objection": {"resolve_objection"},
    "objection_resolved": {"close"},
    "closed": set(),
}

OBJECTION_STATES = {"objection", "objection_resolved"}


def _state_params(states=STATES):
    return [state for state in states]


KNOWN_SBB_ENDPOINTS = {
    "sbb.queue",
    "sbb.investigation",
    "sbb.start",
    "sbb.decide",
    "sbb.objection",
    "sbb.resolve_objection",
    "sbb.close",
    "sbb.message",
    "sbb.companies_list",
    "sbb.company",
    "sbb.open_investigation",
}

SBB_PAGES = {"sbb.queue", "sbb.investigation", "sbb.companies_list", "sbb.company"}  # the GETs

# On the handler's case timeline (desk), by hand.
TIMELINE = {
    "case.escalated": "Doorgezet naar SBB",
    "investigation.started": "SBB is het onderzoek gestart",
    "investigation.message_sent": "Bericht tussen SBB en het meldpunt",
    "investigation.decided": "SBB heeft besloten",
    "case.returned_from_escalation": "Terug van SBB",
    "investigation.objection_recorded": "Bezwaar van het bedrijf bij SBB",
    "investigation.objection_resolved": "SBB heeft op het bezwaar beslist",
    "investigation.closed": "SBB heeft het onderzoek afgesloten",
}


# --- Helpers -------------------------------------------------------------------------------


def _mails(purpose: str) -> list[OutboxMail]:
    return db.session.scalars(
        sa.select(OutboxMail).where(OutboxMail.purpose == purpose).order_by(OutboxMail.id)
    ).all()


def _changes(company_id: int) -> list[RecognitionChange]:
    return db.session.scalars(
        sa.select(RecognitionChange)
        .where(RecognitionChange.company_id == company_id)
        .order_by(RecognitionChange.id)
    ).all()


def _day(offset: int) -> date:
    return deadlines.today() + timedelta(days=offset)


def _escalated(institution=None, company=None, share_identity=False, **fields):
    """An escalated case (acknowledged, then handed to SBB) and its handler."""
    institution = institution or make_institution()
    handler = make_user(Role.HANDLER, institution)
    company = company or make_company()
    fields = {
        "narrative": NARRATIVE,
        "grounds": ["religion"],
        "phase": "application",
        "form": "refused",
        **fields,
    }
    case, _code = make_case(institution, consent_sbb=True, company_id=company.id, **fields)
    workflow.acknowledge(case, handler)
    investigation = workflow.escalate(case, handler, SUMMARY, share_identity)
    db.session.commit()
    return investigation, handler


def _decision_args(decision: Decision) -> dict:
    return {
        "conditions": CONDITIONS if decision == D.IMPROVEMENT else None,
        "conditions_due_on": _day(90) if decision == D.IMPROVEMENT else None,
        "suspended_until": _day(180) if decision == D.SUSPENSION else None,
    }


def _decide_form(decision: Decision | str, **overrides) -> dict:
    """The decision form with every field filled in, as a reviewer might."""
    data = {
        "decision": str(decision),
        "reasoning": REASONING,
        "conditions": CONDITIONS,
        "conditions_due_on": _day(90).isoformat(),
        "suspended_until": _day(180).isoformat(),
    }
    data.update(overrides)
    return data


def _bring_to(investigation: Investigation, state: str, reviewer) -> None:
    """Walk an investigation to one of STATES through the module's own operations."""
    if state == "received":
        return
    investigations.start(investigation, reviewer)
    if state == "investigating":
        return
    decision = D.NO_ACTION if state == "decided_no_action" else D.WARNING
    investigations.decide(investigation, reviewer, decision, REASONING)
    if state in ("decided_measure", "decided_no_action"):
        return
    if state == "closed":
        investigations.close(investigation, reviewer)
        return
    investigations.record_objection(investigation, reviewer)
    if state == "objection":
        return
    investigations.resolve_objection(investigation, reviewer, False, OBJECTION_REASONING)


def _state(investigation: Investigation) -> dict:
    fresh = reloaded(investigation)
    return {
        "status": fresh.status,
        "decision": fresh.decision,
        "reasoning": fresh.decision_reasoning,
        "conditions": fresh.conditions,
        "conditions_due_on": fresh.conditions_due_on,
        "suspended_until": fresh.suspended_until,
        "started_at": fresh.started_at,
        "decided_at": fresh.decided_at,
        "objection_at": fresh.objection_at,
        "objection_upheld": fresh.objection_upheld,
        "closed_at": fresh.closed_at,
        "recognition_before": fresh.recognition_before,
        "recognition": fresh.company.recognition_status,
        "case status": fresh.case.status if fresh.case else None,
        "recognition changes": count(RecognitionChange),
        "messages": count(InvestigationMessage),
        "investigations": count(Investigation),
        "audit events": changes_in_trail(),
        "mails": count(OutboxMail),
    }


def _form_html(page: str, action: str) -> str:
    match = re.search(rf'<form method="post" action="{re.escape(action)}".*?</form>', page, re.S)
    assert match, f"no form for {action} on the page"
    return html_lib.unescape(match.group(0))


def _form_actions(page: str) -> set[str]:
    return set(re.findall(r'<form method="post" action="/sbb/onderzoeken/\d+/([a-z-]+)"', page))


def _section(page: str, title_id: str) -> str:
    match = re.search(rf'<section aria-labelledby="{title_id}".*?</section>', page, re.S)
    assert match, f"no section {title_id} on the page"
    return match.group(0)


def _listed_investigations(page: str) -> set[int]:
    section = _section(page, "investigations-title")
    return {int(i) for i in re.findall(r'href="/sbb/onderzoeken/(\d+)"', section)}


def _signal_rows(page: str) -> dict[int, list[str]]:
    """Company id -> the other cells of its row in the signals table, in the table's order."""
    section = _section(page, "signals-title")
    rows = re.findall(
        r'<th scope="row"><a href="/sbb/bedrijven/(\d+)">.*?</th>(.*?)</tr>', section, re.S
    )
    return {
        int(c): [
            re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", rest)
        ]
        for c, rest in rows
    }


def _sbb_requests(app, investigation_id: int, company_id: int):
    """(method, url, rule) for every SBB rule; a new route is covered without a change here."""
    ids = {"investigation_id": investigation_id, "company_id": company_id, "attachment_id": 1}
    return [(r.method, r.url, r.rule) for r in walk_routes(app, ids, where=in_blueprint("sbb"))]


def _desk_requests(app, case_id: int):
    ids = {"case_id": case_id, "attachment_id": 1}
    return [(r.method, r.url) for r in walk_routes(app, ids, where=in_blueprint("desk"))]


def _all_form_data() -> dict:
    """Valid data for every SBB form at once, so that a request that wrongly got through acts."""
    return {
        **_decide_form(D.REVOCATION),
        "upheld": "yes",
        "body": "Een bericht dat hier niet hoort.",
        "reason": "Een onderzoek dat hier niet hoort.",
    }


def _send(client, method: str, url: str):
    if method == "POST":
        return client.post(url, data=_all_form_data())
    return client.get(url)


@pytest.fixture
def reviewer():
    return make_user(Role.SBB_REVIEWER, name="Sanne Beoordelaar")


# --- Who reaches SBB's pages ----------------------------------------------------------------


def test_the_walk_over_the_url_map_finds_every_known_sbb_page(app):
    endpoints = {rule.endpoint for _m, _u, rule in _sbb_requests(app, 1, 1)}
    assert KNOWN_SBB_ENDPOINTS <= endpoints
    # SBB has no route that takes a case.
    assert not any("case_id" in rule.arguments for _m, _u, rule in _sbb_requests(app, 1, 1))


def test_sbb_reviewer_logs_in_and_lands_on_the_queue(client, auth, reviewer):
    response = auth.login(reviewer)
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/sbb/"
    assert client.get("/sbb/").status_code == 200


@pytest.mark.parametrize(
    "role",
    ["own_handler", "other_handler", "institution_admin", "monitor", "platform_admin"],
)
def test_every_sbb_page_is_404_to_anyone_but_an_sbb_reviewer(app, client, auth, reviewer, role):
    company = make_company()
    inv, handler = _escalated(company=company)
    investigations.start(inv, reviewer)
    make_case(make_institution(), company_id=company.id)  # the company is now a signal
    user = {
        "own_handler": handler,
        "other_handler": make_user(Role.HANDLER, make_institution()),
        "institution_admin": make_user(Role.INSTITUTION_ADMIN, inv.case.institution),
        "monitor": make_user(Role.MONITOR),
        "platform_admin": make_user(Role.PLATFORM_ADMIN),
    }[role]
    db.session.commit()
    assert signals.is_signal(company.id)
    assert auth.login(user).status_code == 302
    before = _state(inv)

    answers = {
        (method, url): _send(client, method, url).status_code
        for method, url, _rule in _sbb_requests(app, inv.id, company.id)
    }

    assert len(answers) >= len(KNOWN_SBB_ENDPOINTS)
    assert {request: code for request, code in answers.items() if code != 404} == {}
    assert _state(inv) == before


def test_anonymous_visitors_are_sent_to_the_login_page_from_every_sbb_url(app, client, reviewer):
    inv, _handler = _escalated()
    before = _state(inv)

    for method, url, _rule in _sbb_requests(app, inv.id, inv.company_id):
        response = _send(client, method, url)
        assert response.status_code == 302, (method, url)
        assert urlsplit(response.headers["Location"]).path == "/inloggen", (method, url)

    assert _state(inv) == before


def test_a_reviewer_disabled_during_their_session_loses_sbbs_pages(client, auth, reviewer):
    auth.login(reviewer)
    assert client.get("/sbb/").status_code == 200

    reviewer.active = False
    db.session.commit()

    response = client.get("/sbb/")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/inloggen"


def test_get_on_every_post_route_of_sbb_is_405(app, client, auth, reviewer):
    inv, _handler = _escalated()
    auth.login(reviewer)
    before = _state(inv)

    post_only = {
        rule.endpoint: url
        for method, url, rule in _sbb_requests(app, inv.id, inv.company_id)
        if method == "POST" and "GET" not in rule.methods
    }

    assert KNOWN_SBB_ENDPOINTS - SBB_PAGES <= set(post_only)
    answers = {url: client.get(url).status_code for url in post_only.values()}
    assert answers == dict.fromkeys(post_only.values(), 405)
    assert _state(inv) == before


def test_sbb_finds_no_case_escalated_or_not_and_no_investigation_it_was_not_given(
    app, client, auth, reviewer
):
    inv, handler = _escalated()
    not_escalated = make_case(inv.case.institution, company_id=inv.company_id, consent_sbb=True)[0]
    db.session.commit()
    auth.login(reviewer)

    for case in (inv.case, not_escalated):
        answers = {(m, u): _send(client, m, u).status_code for m, u in _desk_requests(app, case.id)}
        assert {r: code for r, code in answers.items() if code != 404} == {}, case
    assert client.get(f"/sbb/onderzoeken/{inv.id + 1}").status_code == 404
    assert client.post(f"/sbb/onderzoeken/{inv.id + 1}/starten").status_code == 404
    assert client.get("/sbb/bedrijven/987654").status_code == 404
    assert _listed_investigations(page_text(client.get("/sbb/?status=all"))) == {inv.id}
    assert reloaded(not_escalated).status == Status.NEW


@pytest.mark.parametrize("share_identity", [False, True], ids=["pseudonymised", "with_name"])
def test_the_investigation_shows_what_the_school_shared_and_nothing_else_of_the_case(
    client, auth, reviewer, share_identity
):
    inv, handler = _escalated(
        share_identity=share_identity,
        consent_sbb_identity=True,
        incident_date=date(2026, 3, 17),
        company_text="Bakkerij Korrelzicht aan de Dorpsstraat",
        wishes=["sbb"],
        **STUDENT,
    )
    case = inv.case
    workflow.add_note(case, handler, NOTE)
    workflow.send_message(case, handler, TO_STUDENT)
    workflow.student_message(case, FROM_STUDENT)
    db.session.commit()
    auth.login(reviewer)

    page = page_text(client.get(f"/sbb/onderzoeken/{inv.id}"))

    shared = _section(page, "shared-title")
    for text in (
        SUMMARY,
        "Geloof of levensovertuiging",  # ground
        "Bij het solliciteren of de selectie",  # phase
        "Niet aangenomen of niet uitgenodigd",  # form
        "maart 2026",  # the month, not the day
        case.institution.name,
    ):
        assert text in html_lib.unescape(shared), text
    never = [
        NARRATIVE,
        NOTE,
        TO_STUDENT,
        FROM_STUDENT,
        case.number,
        STUDENT["student_number"],
        STUDENT["programme"],
        "Bakkerij Korrelzicht",
        "2026-03-17",
        "17 maart",
    ]
    identity = [STUDENT["reporter_name"], STUDENT["email"], STUDENT["phone"]]
    unescaped = html_lib.unescape(page)
    for text in never + ([] if share_identity else identity):
        assert text not in unescaped, text
    if share_identity:
        for text in identity:
            assert text in unescaped, text
    else:
        assert "Niet gedeeld: de student blijft onbekend voor SBB." in unescaped
        fresh = reloaded(inv)
        assert (fresh.student_name, fresh.student_email, fresh.student_phone) == (None,) * 3
    # Nor do the queue, the company page or the register show anything of the case.
    for url in ("/sbb/", f"/sbb/bedrijven/{inv.company_id}", "/sbb/bedrijven"):
        other = html_lib.unescape(page_text(client.get(url)))
        for text in never + identity + [SUMMARY]:
            assert text not in other, (url, text)


# --- The investigation page and its steps -------------------------------------------------


@pytest.mark.parametrize("state", _state_params())
def test_the_investigation_page_offers_exactly_the_steps_the_state_allows(
    client, auth, reviewer, state
):
    inv, _handler = _escalated()
    _bring_to(inv, state, reviewer)
    db.session.commit()
    auth.login(reviewer)

    page = page_text(client.get(f"/sbb/onderzoeken/{inv.id}"))

    expected = {STEP_ROUTES[step] for step in EXPECTED_STEPS[state]}
    assert _form_actions(page) == expected | {"bericht"}  # an escalation can always be discussed


@pytest.mark.parametrize(
    ("state", "step"),
    [
        pytest.param(state, step)
        for state in STATES
        for step in STEP_ROUTES
        if step not in EXPECTED_STEPS[state]
    ],
)
def test_a_step_the_state_does_not_allow_is_refused_with_409_and_changes_nothing(
    client, auth, reviewer, state, step
):
    inv, _handler = _escalated()
    _bring_to(inv, state, reviewer)
    db.session.commit()
    auth.login(reviewer)
    before = _state(inv)

    response = client.post(f"/sbb/onderzoeken/{inv.id}/{STEP_ROUTES[step]}", data=_all_form_data())

    assert response.status_code == 409
    assert "Deze stap kan nu niet bij dit onderzoek." in page_text(response)
    assert _state(inv) == before
    # The investigation was shown again: a read, in the trail like any other.
    read = audit_events("investigation.viewed")[-1]
    assert (read.actor_id, json.loads(read.details)["investigation_id"]) == (reviewer.id, inv.id)


def test_reviewer_takes_an_escalation_through_every_form_on_its_page(client, auth, reviewer):
    inv, handler = _escalated()
    auth.login(reviewer)
    url = f"/sbb/onderzoeken/{inv.id}"

    def submit(route, data=None):
        assert route in _form_actions(page_text(client.get(url))), (
            f"the page has no form for {route}"
        )
        response = client.post(f"{url}/{route}", data=data or {})
        assert response.status_code == 302, page_text(response)
        assert urlsplit(response.headers["Location"]).path == url
        return reloaded(inv)

    assert reloaded(inv).status == IS.RECEIVED
    assert submit("starten").status == IS.INVESTIGATING
    assert submit("bericht", {"body": "Kunt u de mail van het bedrijf sturen?"}).messages
    assert submit("besluit", _decide_form(D.WARNING)).status == IS.DECIDED
    closed = submit("afsluiten")
    assert closed.status == IS.CLOSED and closed.closed_at is not None

    page = page_text(client.get(url))
    assert "Afgesloten" in page
    assert REASONING in page


def test_reviewer_records_an_objection_and_decides_on_it_through_the_pages_forms(
    client, auth, reviewer
):
    inv, _handler = _escalated()
    _bring_to(inv, "decided_measure", reviewer)
    db.session.commit()
    auth.login(reviewer)
    url = f"/sbb/onderzoeken/{inv.id}"

    assert "bezwaar" in _form_actions(page_text(client.get(url)))
    assert client.post(f"{url}/bezwaar").status_code == 302
    assert reloaded(inv).status == IS.OBJECTION
    assert "bezwaar-besluit" in _form_actions(page_text(client.get(url)))
    resolved = client.post(
        f"{url}/bezwaar-besluit", data={"upheld": "no", "reasoning": OBJECTION_REASONING}
    )
    assert resolved.status_code == 302
    fresh = reloaded(inv)
    assert (fresh.status, fresh.objection_upheld) == (IS.DECIDED, False)
    assert "ongegrond, maatregel blijft" in page_text(client.get(url))


@pytest.mark.parametrize("decision", list(Decision))
def test_each_decision_sets_the_recognition_with_its_history_and_returns_the_case(
    client, auth, reviewer, decision
):
    inv, handler = _escalated()
    company_id, case = inv.company_id, inv.case
    auth.login(reviewer)
    url = f"/sbb/onderzoeken/{inv.id}"

    assert client.post(f"{url}/starten").status_code == 302
    started = reloaded(inv)
    assert (started.status, started.recognition_before) == (IS.INVESTIGATING, R.RECOGNISED)
    assert started.started_at is not None
    assert started.company.recognition_status == R.UNDER_INVESTIGATION

    response = client.post(f"{url}/besluit", data=_decide_form(decision))

    assert response.status_code == 302, page_text(response)
    decided = reloaded(inv)
    expected_until = {D.IMPROVEMENT: _day(90), D.SUSPENSION: _day(180)}.get(decision)
    assert decided.status == IS.DECIDED
    assert (decided.decision, decided.decision_reasoning) == (decision, REASONING)
    assert decided.decided_by_id == reviewer.id and decided.decided_at is not None
    # Only what belongs to the decision is kept of the fields typed.
    assert (decided.conditions, decided.conditions_due_on, decided.suspended_until) == (
        CONDITIONS if decision == D.IMPROVEMENT else None,
        _day(90) if decision == D.IMPROVEMENT else None,
        _day(180) if decision == D.SUSPENSION else None,
    )
    assert decided.company.recognition_status == RECOGNITION_AFTER[decision]
    history = [
        (c.from_status, c.to_status, c.cause, c.until, c.investigation_id, c.changed_by_id)
        for c in _changes(company_id)
    ]
    assert history == [
        (R.RECOGNISED, R.UNDER_INVESTIGATION, "investigation_started", None, inv.id, reviewer.id),
        (
            R.UNDER_INVESTIGATION,
            RECOGNITION_AFTER[decision],
            f"decision_{decision}",
            expected_until,
            inv.id,
            reviewer.id,
        ),
    ]
    assert _changes(company_id)[-1].reason == REASONING

    # The outcome goes back to the school: the case is in follow-up again, the handler is told.
    assert reloaded(case).status == Status.FOLLOW_UP
    returned = audit_events("case.returned_from_escalation", case_id=case.id)
    assert [(e.actor_id, f'"decision": "{decision}"' in e.details) for e in returned] == [
        (reviewer.id, True)
    ]
    assert [m.recipient for m in _mails("handler_sbb_news")] == [handler.email] * 2

    company_page = html_lib.unescape(page_text(client.get(f"/sbb/bedrijven/{company_id}")))
    history_section = _section(company_page, "history-title")
    assert REASONING in history_section
    assert history_section.count("→") == 2

    assert client.post(f"{url}/afsluiten").status_code == 302
    closed = reloaded(inv)
    assert closed.status == IS.CLOSED
    assert closed.company.recognition_status == RECOGNITION_AFTER[decision]
    assert len(_changes(company_id)) == 2


def test_a_company_under_conditions_returns_to_them_after_no_action():
    reviewer = make_user(Role.SBB_REVIEWER)
    company = make_company(recognition_status=R.UNDER_CONDITIONS)
    inv, _handler = _escalated(company=company)

    investigations.start(inv, reviewer)
    assert company.recognition_status == R.UNDER_INVESTIGATION
    investigations.decide(inv, reviewer, D.NO_ACTION, REASONING)

    assert company.recognition_status == R.UNDER_CONDITIONS
    assert [(c.from_status, c.to_status) for c in _changes(company.id)] == [
        (R.UNDER_CONDITIONS, R.UNDER_INVESTIGATION),
        (R.UNDER_INVESTIGATION, R.UNDER_CONDITIONS),
    ]


def test_a_suspended_company_stays_suspended_while_sbb_looks_again_and_can_be_revoked():
    reviewer = make_user(Role.SBB_REVIEWER)
    company = make_company(recognition_status=R.SUSPENDED)
    inv, _handler = _escalated(company=company)

    investigations.start(inv, reviewer)
    assert (company.recognition_status, _changes(company.id)) == (R.SUSPENDED, [])
    investigations.decide(inv, reviewer, D.REVOCATION, REASONING)

    assert company.recognition_status == R.REVOKED
    assert [(c.from_status, c.to_status) for c in _changes(company.id)] == [
        (R.SUSPENDED, R.REVOKED)
    ]


def test_after_sbbs_decision_the_handler_closes_the_case_as_an_sbb_measure(client, auth, reviewer):
    inv, handler = _escalated()
    case = inv.case
    auth.login(handler)
    close = f"/behandelen/zaken/{case.id}/afsluiten"
    data = {"outcome": str(Outcome.SBB_MEASURE), "message": "SBB heeft het bedrijf geschorst."}

    assert client.post(close, data=data).status_code == 409  # SBB has not decided yet
    assert reloaded(case).status == Status.ESCALATED

    investigations.start(inv, reviewer)
    investigations.decide(inv, reviewer, D.SUSPENSION, REASONING, suspended_until=_day(180))
    db.session.commit()
    page = html_lib.unescape(page_text(client.get(f"/behandelen/zaken/{case.id}")))
    assert "Schorsing: tijdelijk geen nieuwe studenten" in page
    assert REASONING in page

    response = client.post(close, data=data)

    assert response.status_code == 302, page_text(response)
    closed = reloaded(case)
    assert (closed.status, closed.outcome) == (Status.CLOSED, Outcome.SBB_MEASURE)


# --- Bad input on SBB's forms --------------------------------------------------------------

FUTURE_DUE = "Geef een datum in de toekomst waarop aan de voorwaarden voldaan moet zijn."
FUTURE_END = "Geef een datum in de toekomst tot wanneer de schorsing geldt."

# (changes to the full decision form, the field that is wrong, the message beside it).
# "today" and "yesterday" are filled in when the test runs.
DECIDE_ERRORS = {
    "no_decision": ({"decision": ""}, "decision", "Kies een besluit."),
    "unknown_decision": ({"decision": "fine"}, "decision", None),
    "no_reasoning": ({"reasoning": "   "}, "reasoning", "Schrijf de onderbouwing van het besluit."),
    "reasoning_too_long": ({"reasoning": "Lang. " * 900}, "reasoning", "Deze tekst is te lang."),
    "improvement_without_conditions": (
        {"decision": "improvement", "conditions": "  "},
        "conditions",
        "Schrijf de voorwaarden van de verbeterafspraken.",
    ),
    "improvement_without_due_date": (
        {"decision": "improvement", "conditions_due_on": ""},
        "conditions_due_on",
        FUTURE_DUE,
    ),
    "improvement_due_today": (
        {"decision": "improvement", "conditions_due_on": "today"},
        "conditions_due_on",
        FUTURE_DUE,
    ),
    "improvement_due_yesterday": (
        {"decision": "improvement", "conditions_due_on": "yesterday"},
        "conditions_due_on",
        FUTURE_DUE,
    ),
    "suspension_without_end": (
        {"decision": "suspension", "suspended_until": ""},
        "suspended_until",
        FUTURE_END,
    ),
    "suspension_ending_today": (
        {"decision": "suspension", "suspended_until": "today"},
        "suspended_until",
        FUTURE_END,
    ),
    "suspension_ended_yesterday": (
        {"decision": "suspension", "suspended_until": "yesterday"},
        "suspended_until",
        FUTURE_END,
    ),
    "suspension_end_not_a_date": (
        {"decision": "suspension", "suspended_until": "31-31-2026"},
        "suspended_until",
        "Ongeldige datum.",
    ),
    "suspension_end_in_2300": (
        {"decision": "suspension", "suspended_until": "2300-01-01"},
        "suspended_until",
        "Kies een datum tussen 2000 en 2100.",
    ),
}


def _resolve_days(data: dict) -> dict:
    days = {"today": _day(0).isoformat(), "yesterday": _day(-1).isoformat()}
    return {name: days.get(value, value) for name, value in data.items()}


@pytest.mark.parametrize("case_name", list(DECIDE_ERRORS))
def test_a_decision_with_bad_input_says_so_beside_the_field_and_keeps_what_was_typed(
    client, auth, reviewer, case_name
):
    changes, field, message = DECIDE_ERRORS[case_name]
    inv, _handler = _escalated()
    investigations.start(inv, reviewer)
    db.session.commit()
    auth.login(reviewer)
    before = _state(inv)
    data = {**_decide_form(D.WARNING), **_resolve_days(changes)}

    response = client.post(f"/sbb/onderzoeken/{inv.id}/besluit", data=data)

    assert response.status_code == 422
    page = page_text(response)
    assert "Het besluit is niet vastgelegd." in page
    form = _form_html(page, f"/sbb/onderzoeken/{inv.id}/besluit")
    error = field_error(form, field)
    if message is not None:
        assert error == message
    others = {"decision", "reasoning", "conditions", "conditions_due_on", "suspended_until"}
    for other in others - {field}:
        assert f'id="{other}-error"' not in form, other
    # What was typed is still there.
    if data["decision"] in {str(d) for d in Decision}:
        assert re.search(rf'<option selected value="{data["decision"]}">', form)
    for text_field in ("reasoning", "conditions"):
        if data[text_field].strip():
            assert data[text_field].strip() in form, text_field
    for date_field in ("conditions_due_on", "suspended_until"):
        if data[date_field]:
            assert re.search(rf'id="{date_field}"[^>]*value="{data[date_field]}"', form), date_field
    assert _state(inv) == before


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"reasoning": OBJECTION_REASONING}, "upheld", "Kies of het bezwaar gegrond is."),
        (
            {"upheld": "no", "reasoning": "  "},
            "reasoning",
            "Schrijf de onderbouwing van de beslissing op het bezwaar.",
        ),
        (
            {"upheld": "yes", "reasoning": "Lang. " * 900},
            "reasoning",
            "Deze tekst is te lang.",
        ),
    ],
    ids=["no_choice", "no_reasoning", "reasoning_too_long"],
)
def test_deciding_on_an_objection_with_bad_input_says_so_and_keeps_what_was_typed(
    client, auth, reviewer, data, field, message
):
    inv, _handler = _escalated()
    _bring_to(inv, "objection", reviewer)
    db.session.commit()
    auth.login(reviewer)
    before = _state(inv)

    response = client.post(f"/sbb/onderzoeken/{inv.id}/bezwaar-besluit", data=data)

    assert response.status_code == 422
    form = _form_html(page_text(response), f"/sbb/onderzoeken/{inv.id}/bezwaar-besluit")
    assert field_error(form, field) == message
    if data.get("upheld"):
        assert re.search(rf'<input[^>]*checked[^>]*value="{data["upheld"]}"', form)
    if data["reasoning"].strip():
        assert data["reasoning"].strip() in form
    assert _state(inv) == before


@pytest.mark.parametrize(
    ("body", "message"),
    [(" ", "Schrijf een bericht."), ("Een heel lang bericht. " * 250, "Dit bericht is te lang.")],
    ids=["empty", "too_long"],
)
def test_a_bad_message_to_the_institution_is_refused_and_kept(
    client, auth, reviewer, body, message
):
    inv, _handler = _escalated()
    auth.login(reviewer)
    before = _state(inv)

    response = client.post(f"/sbb/onderzoeken/{inv.id}/bericht", data={"body": body})

    assert response.status_code == 422
    form = _form_html(page_text(response), f"/sbb/onderzoeken/{inv.id}/bericht")
    assert field_error(form, "body") == message
    assert body.strip() in form
    assert _state(inv) == before


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("  ", "Schrijf waarom SBB dit bedrijf onderzoekt."),
        ("Heel veel meldingen. " * 250, "Deze tekst is te lang."),
    ],
    ids=["empty", "too_long"],
)
def test_opening_an_investigation_without_a_good_reason_is_refused_and_kept(
    client, auth, reviewer, reason, message
):
    company = make_company()
    auth.login(reviewer)
    audit_before = count(AuditEvent)

    response = client.post(f"/sbb/bedrijven/{company.id}/onderzoek", data={"reason": reason})

    assert response.status_code == 422
    form = _form_html(page_text(response), f"/sbb/bedrijven/{company.id}/onderzoek")
    assert field_error(form, "reason") == message
    assert reason.strip() in form
    assert count(Investigation) == 0
    assert count(AuditEvent) == audit_before


# --- Objections ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "decision",
    list(Decision),
)
def test_an_objection_can_be_recorded_only_after_a_measure_and_only_once(
    client, auth, reviewer, decision
):
    inv, _handler = _escalated()
    investigations.start(inv, reviewer)
    investigations.decide(inv, reviewer, decision, REASONING, **_decision_args(decision))
    db.session.commit()
    auth.login(reviewer)
    url = f"/sbb/onderzoeken/{inv.id}"
    before = _state(inv)

    response = client.post(f"{url}/bezwaar")

    if decision in NOT_MEASURES:
        assert response.status_code == 409
        assert _state(inv) == before
        return
    assert response.status_code == 302
    objected = reloaded(inv)
    assert objected.status == IS.OBJECTION and objected.objection_at is not None
    assert objected.company.recognition_status == RECOGNITION_AFTER[decision]  # until decided
    resolved = client.post(f"{url}/bezwaar-besluit", data={"upheld": "no", "reasoning": "Nee."})
    assert resolved.status_code == 302
    before = _state(inv)

    again = client.post(f"{url}/bezwaar")

    assert again.status_code == 409
    assert _state(inv) == before


@pytest.mark.parametrize("upheld", [True, False], ids=["upheld", "rejected"])
@pytest.mark.parametrize("decision", MEASURES)
@pytest.mark.parametrize("recognition_before", [R.RECOGNISED, R.UNDER_CONDITIONS])
def test_an_upheld_objection_restores_the_recognition_of_before_and_a_rejected_one_keeps_it(
    client, auth, reviewer, decision, upheld, recognition_before
):
    company = make_company(recognition_status=recognition_before)
    inv, handler = _escalated(company=company)
    investigations.start(inv, reviewer)
    investigations.decide(inv, reviewer, decision, REASONING, **_decision_args(decision))
    db.session.commit()
    measure = RECOGNITION_AFTER[decision]
    assert company.recognition_status == measure
    changes_before = len(_changes(company.id))
    mails_before = len(_mails("handler_sbb_news"))
    auth.login(reviewer)
    url = f"/sbb/onderzoeken/{inv.id}"

    assert client.post(f"{url}/bezwaar").status_code == 302
    response = client.post(
        f"{url}/bezwaar-besluit",
        data={"upheld": "yes" if upheld else "no", "reasoning": OBJECTION_REASONING},
    )

    assert response.status_code == 302, page_text(response)
    resolved = reloaded(inv)
    assert (resolved.status, resolved.objection_upheld) == (IS.DECIDED, upheld)
    assert resolved.decision == decision  # the decision stays on record
    changes = _changes(company.id)
    if upheld:
        assert resolved.company.recognition_status == recognition_before
        assert len(changes) == changes_before + 1
        last = changes[-1]
        assert (last.from_status, last.to_status, last.cause) == (
            measure,
            recognition_before,
            "objection_upheld",
        )
        assert (last.reason, last.changed_by_id, last.investigation_id) == (
            OBJECTION_REASONING,
            reviewer.id,
            inv.id,
        )
    else:
        assert resolved.company.recognition_status == measure
        assert len(changes) == changes_before
    assert [
        e.actor_id for e in audit_events("investigation.objection_recorded", case_id=inv.case_id)
    ] == [reviewer.id]
    events = audit_events("investigation.objection_resolved", case_id=inv.case_id)
    assert len(events) == 1 and f'"upheld": {str(upheld).lower()}' in events[0].details
    assert len(_mails("handler_sbb_news")) == mails_before + 2  # objection, and its outcome
    assert reloaded(inv.case).status == Status.FOLLOW_UP  # the school's case is not reopened
    assert client.post(f"{url}/afsluiten").status_code == 302
    assert reloaded(inv).status == IS.CLOSED


def test_two_escalations_of_one_company_decided_without_action_leave_it_recognised():
    reviewer = make_user(Role.SBB_REVIEWER)
    company = make_company()
    first, _h1 = _escalated(company=company)
    second, _h2 = _escalated(company=company)  # another school, same company
    investigations.start(first, reviewer)
    investigations.start(second, reviewer)

    investigations.decide(first, reviewer, D.NO_ACTION, REASONING)
    investigations.decide(second, reviewer, D.NO_ACTION, REASONING)

    assert company.recognition_status == R.RECOGNISED


def test_no_action_on_a_parallel_investigation_does_not_lift_a_suspension():
    reviewer = make_user(Role.SBB_REVIEWER)
    company = make_company()
    first, _h1 = _escalated(company=company)
    second, _h2 = _escalated(company=company)
    investigations.start(first, reviewer)
    investigations.start(second, reviewer)
    investigations.decide(first, reviewer, D.SUSPENSION, REASONING, suspended_until=_day(180))

    investigations.decide(second, reviewer, D.NO_ACTION, REASONING)

    assert company.recognition_status == R.SUSPENDED


# --- Messages between SBB and the school ---------------------------------------------------


def test_sbb_and_the_schools_handlers_write_to_each_other_and_each_side_is_mailed(
    client, auth, app, reviewer
):
    inv, handler = _escalated()
    colleague_reviewer = make_user(Role.SBB_REVIEWER)
    make_user(Role.SBB_REVIEWER, active=False)  # gets no mail
    db.session.commit()
    case = inv.case
    from_sbb = "Kunt u de datum van het gesprek bevestigen?"
    from_school = "Het gesprek was op 12 maart; de student bevestigt dat."

    auth.login(reviewer)
    sent = client.post(f"/sbb/onderzoeken/{inv.id}/bericht", data={"body": from_sbb})
    assert sent.status_code == 302
    school = app.test_client()
    school.post("/inloggen", data={"email": handler.email, "password": PASSWORD})
    answered = school.post(
        f"/behandelen/zaken/{case.id}/sbb-bericht", data={"sbbmsg-body": from_school}
    )
    assert answered.status_code == 302

    messages = db.session.scalars(
        sa.select(InvestigationMessage).order_by(InvestigationMessage.id)
    ).all()
    assert [(m.investigation_id, m.author_id, m.from_sbb, m.body) for m in messages] == [
        (inv.id, reviewer.id, True, from_sbb),
        (inv.id, handler.id, False, from_school),
    ]
    to_school = _mails("handler_sbb_news")
    to_sbb = _mails("sbb_message")
    assert [m.recipient for m in to_school] == [handler.email]
    assert sorted(m.recipient for m in to_sbb) == sorted([reviewer.email, colleague_reviewer.email])
    for mail in to_school + to_sbb:
        assert from_sbb not in mail.body and from_school not in mail.body
        assert NARRATIVE not in mail.body and SUMMARY not in mail.body
    events = audit_events("investigation.message_sent")
    assert [(e.actor_id, e.case_id, e.institution_id) for e in events] == [
        (reviewer.id, case.id, case.institution_id),
        (handler.id, case.id, case.institution_id),
    ]
    assert not any(from_sbb in e.details or from_school in e.details for e in events)

    # Both sides read both messages.
    sbb_page = html_lib.unescape(page_text(client.get(f"/sbb/onderzoeken/{inv.id}")))
    desk_page = html_lib.unescape(page_text(school.get(f"/behandelen/zaken/{case.id}")))
    for page in (sbb_page, desk_page):
        assert from_sbb in page and from_school in page


def test_a_handler_of_another_institution_cannot_write_on_an_escalation(client, auth):
    inv, _handler = _escalated()
    stranger = make_user(Role.HANDLER, make_institution())
    db.session.commit()
    assert not investigations.can("message", inv, stranger)
    auth.login(stranger)
    before = _state(inv)

    response = client.post(
        f"/behandelen/zaken/{inv.case_id}/sbb-bericht", data={"sbbmsg-body": "Hallo SBB."}
    )

    assert response.status_code == 404
    assert _state(inv) == before


# --- The audit trail and the school's timeline ---------------------------------------------


def test_every_step_is_audited_on_the_case_and_shows_on_the_handlers_timeline(
    app, client, auth, reviewer
):
    inv, handler = _escalated()
    case = inv.case
    auth.login(reviewer)
    url = f"/sbb/onderzoeken/{inv.id}"
    for route, data in [
        ("starten", None),
        ("bericht", {"body": "Wij zijn begonnen."}),
        ("besluit", _decide_form(D.IMPROVEMENT)),
        ("afsluiten", None),
    ]:
        assert client.post(f"{url}/{route}", data=data or {}).status_code == 302, route

    steps = db.session.scalars(
        sa.select(AuditEvent)
        .where(
            AuditEvent.action.like("investigation.%"), AuditEvent.action != "investigation.viewed"
        )
        .order_by(AuditEvent.id)
    ).all()
    assert [e.action for e in steps] == [
        "investigation.started",
        "investigation.message_sent",
        "investigation.decided",
        "investigation.closed",
    ]
    for event in steps:
        assert (event.actor_type, event.actor_id) == ("user", reviewer.id), event.action
        assert (event.case_id, event.institution_id) == (case.id, case.institution_id)
        assert f'"investigation_id": {inv.id}' in event.details
    assert '"decision": "improvement"' in steps[2].details
    # Start and decision each change the recognition, with an event.
    changes = _changes(inv.company_id)
    assert [c.cause for c in changes] == ["investigation_started", "decision_improvement"]
    for event, change in zip(audit_events("company.recognition_changed"), changes, strict=True):
        assert f'"cause": "{change.cause}"' in event.details
        assert f'"company_id": {inv.company_id}' in event.details
    assert len(audit_events("case.returned_from_escalation", case_id=case.id)) == 1
    # Codes and ids only: no shared text, reasoning, conditions or message in any event.
    for event in db.session.scalars(sa.select(AuditEvent)).all():
        for text in (SUMMARY, REASONING, CONDITIONS, "Wij zijn begonnen."):
            assert text not in event.details, (event.action, text)
    assert audit.verify_chain()[1] is None

    desk = app.test_client()
    desk.post("/inloggen", data={"email": handler.email, "password": PASSWORD})
    page = page_text(desk.get(f"/behandelen/zaken/{case.id}"))
    timeline = html_lib.unescape(_section(page, "timeline-title"))
    for action, label in TIMELINE.items():
        if action not in ("investigation.objection_recorded", "investigation.objection_resolved"):
            assert label in timeline, action


def test_an_objection_and_its_outcome_are_audited_and_show_on_the_handlers_timeline(
    app, client, auth, reviewer
):
    inv, handler = _escalated()
    _bring_to(inv, "decided_measure", reviewer)
    db.session.commit()
    auth.login(reviewer)
    url = f"/sbb/onderzoeken/{inv.id}"

    assert client.post(f"{url}/bezwaar").status_code == 302
    data = {"upheld": "yes", "reasoning": OBJECTION_REASONING}
    assert client.post(f"{url}/bezwaar-besluit", data=data).status_code == 302

    for action in ("investigation.objection_recorded", "investigation.objection_resolved"):
        events = audit_events(action)
        assert [(e.actor_id, e.case_id, e.institution_id) for e in events] == [
            (reviewer.id, inv.case_id, inv.institution_id)
        ]
        assert OBJECTION_REASONING not in events[0].details
    assert OBJECTION_REASONING not in audit_events("company.recognition_changed")[-1].details
    assert audit.verify_chain()[1] is None
    desk = app.test_client()
    desk.post("/inloggen", data={"email": handler.email, "password": PASSWORD})
    page = page_text(desk.get(f"/behandelen/zaken/{inv.case_id}"))
    timeline = html_lib.unescape(_section(page, "timeline-title"))
    assert TIMELINE["investigation.objection_recorded"] in timeline
    assert TIMELINE["investigation.objection_resolved"] in timeline


def test_sbbs_reading_of_an_escalation_is_audited_on_the_case(client, auth, reviewer):
    inv, _handler = _escalated()
    auth.login(reviewer)

    client.get(f"/sbb/onderzoeken/{inv.id}")

    viewed = audit_events("investigation.viewed")
    assert [(e.actor_id, e.case_id, e.institution_id) for e in viewed] == [
        (reviewer.id, inv.case_id, inv.institution_id)
    ]


def test_the_handlers_timeline_names_every_sbb_event_in_words(app, client, auth, reviewer):
    inv, handler = _escalated()
    auth.login(reviewer)
    client.get(f"/sbb/onderzoeken/{inv.id}")
    desk = app.test_client()
    desk.post("/inloggen", data={"email": handler.email, "password": PASSWORD})

    page = page_text(desk.get(f"/behandelen/zaken/{inv.case_id}"))

    timeline = _section(page, "timeline-title")
    assert re.findall(r"\b[a-z_]+\.[a-z_]+\b", re.sub(r"<[^>]+>", " ", timeline)) == []


# --- The queue -----------------------------------------------------------------------------


def test_the_queue_lists_investigations_of_every_institution_and_filters_by_state(
    client, auth, reviewer
):
    made = {}
    for state in ("received", "investigating", "decided_measure", "closed"):
        inv, _handler = _escalated()  # each from its own institution
        _bring_to(inv, state, reviewer)
        made[state] = inv
    made["signal"] = investigations.open_from_signal(make_company(), reviewer, SIGNAL_REASON)
    db.session.commit()
    auth.login(reviewer)

    def listed(**query):
        return _listed_investigations(page_text(client.get("/sbb/", query_string=query)))

    def ids(*names):
        return {made[name].id for name in names}

    open_ones = ids("received", "investigating", "decided_measure", "signal")
    assert listed() == open_ones
    assert listed(status="open") == open_ones
    assert listed(status="bogus") == open_ones
    assert listed(status="all") == open_ones | ids("closed")
    assert listed(status="received") == ids("received", "signal")
    assert listed(status="investigating") == ids("investigating")
    assert listed(status="decided") == ids("decided_measure")
    assert listed(status="objection") == set()
    assert listed(status="closed") == ids("closed")
    page = page_text(client.get("/sbb/", query_string={"status": "all"}))
    for name in ("received", "investigating", "decided_measure", "closed"):
        assert made[name].institution.name in page


# --- Signals -------------------------------------------------------------------------------


def _report(institution, company, **fields) -> Case:
    submitted_at = fields.pop("submitted_at", None)
    case = make_case(institution, company_id=company.id, **fields)[0]
    if submitted_at is not None:
        case.submitted_at = submitted_at
    return case


def _second_report(variant: str, institution, company) -> None:
    """The second institution's report, which does or does not make the company a signal."""
    handler = make_user(Role.HANDLER, institution)
    if variant == "withdrawn":
        workflow.withdraw(_report(institution, company), "Ik wil het toch niet.")
    elif variant == "duplicate":
        original = make_case(institution)[0]  # names no company
        duplicate = _report(institution, company)
        workflow.close(duplicate, handler, Outcome.DUPLICATE, "Dubbel.", duplicate_of=original)
    elif variant == "older_than_24_months":
        _report(institution, company, submitted_at=signals.window_start() - timedelta(days=31))
    elif variant == "just_before_the_window":
        _report(institution, company, submitted_at=signals.window_start() - timedelta(seconds=1))
    elif variant == "at_the_start_of_the_window":
        _report(institution, company, submitted_at=signals.window_start())
    elif variant == "another_company":
        _report(institution, make_company())
    elif variant == "company_only_typed":
        make_case(institution, company_text=company.name)
    elif variant == "closed_as_resolved":
        case = _report(institution, company)
        workflow.acknowledge(case, handler)
        workflow.start_follow_up(case, handler)
        workflow.close(case, handler, Outcome.RESOLVED, "Opgelost.")
    elif variant == "plain":
        _report(institution, company)
    else:  # pragma: no cover
        raise AssertionError(variant)


SIGNAL_VARIANTS = {
    "plain": True,
    "closed_as_resolved": True,
    "at_the_start_of_the_window": True,
    "withdrawn": False,
    "duplicate": False,
    "older_than_24_months": False,
    "just_before_the_window": False,
    "another_company": False,
    "company_only_typed": False,
}


@pytest.mark.parametrize("variant", list(SIGNAL_VARIANTS))
def test_a_company_is_a_signal_when_reports_of_two_institutions_name_it_within_24_months(
    client, auth, reviewer, variant
):
    company = make_company()
    first = make_institution()
    _report(first, company)
    _report(first, company)  # one school alone, however often, is no signal
    _second_report(variant, make_institution(), company)
    db.session.commit()
    assert not db.session.scalar(sa.select(sa.func.count()).select_from(Investigation))
    auth.login(reviewer)

    rows = _signal_rows(page_text(client.get("/sbb/")))
    company_page = page_text(client.get(f"/sbb/bedrijven/{company.id}"))

    expected = SIGNAL_VARIANTS[variant]
    assert signals.is_signal(company.id) is expected
    assert (company.id in rows) is expected
    assert ('<span class="badge badge-overdue">Signaal</span>' in company_page) is expected
    if expected:  # a signal says only that: no number of reports, no date
        assert rows[company.id] == ["nog niet"]


def test_one_institution_alone_is_never_a_signal(client, auth, reviewer):
    company = make_company()
    school = make_institution()
    for _ in range(4):
        _report(school, company)
    db.session.commit()
    auth.login(reviewer)

    assert _signal_rows(page_text(client.get("/sbb/"))) == {}
    assert "0 signalen" in page_text(client.get("/sbb/"))


def test_signals_list_companies_by_name_without_counts_dates_or_institution_names(
    client, auth, reviewer
):
    three, two = make_company(name="Zeeman Zorg BV"), make_company(name="Aalders Bouw BV")
    schools = [make_institution() for _ in range(3)]
    for school in schools:
        _report(school, three, narrative=f"Verhaal bij {school.name} over de chef.")
    for school in schools[:2]:
        _report(school, two)
        _report(school, two)
    db.session.commit()
    auth.login(reviewer)

    page = page_text(client.get("/sbb/"))

    rows = _signal_rows(page)
    assert list(rows) == [two.id, three.id]  # by name: the order tells nothing either
    assert rows == {two.id: ["nog niet"], three.id: ["nog niet"]}
    section = _section(page, "signals-title")
    for school in schools:
        assert school.name not in section
    assert "Verhaal bij" not in page
    assert not re.search(r"<td>\d+</td>", section)


def test_sbb_opens_an_investigation_from_a_signal_and_decides_it_the_same_way(
    client, auth, reviewer
):
    company = make_company()
    schools = [make_institution(), make_institution()]
    for school in schools:
        _report(school, company)
    db.session.commit()
    mails_before = count(OutboxMail)
    auth.login(reviewer)

    signal_section = _section(page_text(client.get("/sbb/")), "signals-title")
    assert "nog niet" in signal_section
    assert "Zelf een onderzoek openen" in page_text(client.get(f"/sbb/bedrijven/{company.id}"))

    opened = client.post(f"/sbb/bedrijven/{company.id}/onderzoek", data={"reason": SIGNAL_REASON})

    assert opened.status_code == 302
    inv = db.session.scalar(sa.select(Investigation))
    url = f"/sbb/onderzoeken/{inv.id}"
    assert urlsplit(opened.headers["Location"]).path == url
    assert (inv.origin, inv.status, inv.company_id) == (
        InvestigationOrigin.SIGNAL,
        IS.RECEIVED,
        company.id,
    )
    assert (inv.case_id, inv.institution_id, inv.created_by_id) == (None, None, reviewer.id)
    assert inv.summary == SIGNAL_REASON
    signal_section = _section(page_text(client.get("/sbb/")), "signals-title")
    assert f'href="{url}"' in signal_section  # the signal links to the running investigation

    page = html_lib.unescape(page_text(client.get(url)))
    assert "Waarom SBB dit onderzoekt" in page and SIGNAL_REASON in page
    assert "bericht" not in _form_actions(page)  # there is no school to write to
    for school in schools:
        assert school.name not in page

    assert client.post(f"{url}/starten").status_code == 302
    assert client.post(f"{url}/besluit", data=_decide_form(D.SUSPENSION)).status_code == 302
    decided = reloaded(inv)
    assert decided.status == IS.DECIDED
    assert decided.company.recognition_status == R.SUSPENDED
    assert [(c.from_status, c.to_status, c.cause, c.until) for c in _changes(company.id)] == [
        (R.RECOGNISED, R.UNDER_INVESTIGATION, "investigation_started", None),
        (R.UNDER_INVESTIGATION, R.SUSPENDED, "decision_suspension", _day(180)),
    ]
    before = _state(inv)
    assert client.post(f"{url}/bericht", data={"body": "Aan wie?"}).status_code == 409
    assert _state(inv) == before

    assert client.post(f"{url}/afsluiten").status_code == 302
    assert reloaded(inv).status == IS.CLOSED

    # Every step is audited, without a case or an institution; no school is mailed.
    actions = [
        e.action
        for e in db.session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.action.like("investigation.%"))
            .where(AuditEvent.action != "investigation.viewed")
            .order_by(AuditEvent.id)
        )
    ]
    assert actions == [
        "investigation.opened_from_signal",
        "investigation.started",
        "investigation.decided",
        "investigation.closed",
    ]
    for event in audit_events("investigation.started") + audit_events(
        "investigation.opened_from_signal"
    ):
        assert (event.case_id, event.institution_id) == (None, None)
        assert f'"company_id": {company.id}' in event.details
    assert count(OutboxMail) == mails_before
    # Closed: the company is still a signal, with no investigation running.
    signal_section = _section(page_text(client.get("/sbb/")), "signals-title")
    assert company.id in _signal_rows(signal_section) and "nog niet" in signal_section


def test_no_institution_sees_the_signal_or_another_schools_reports(client, auth):
    company = make_company()
    school_a, school_b = make_institution(), make_institution()
    handler_a = make_user(Role.HANDLER, school_a)
    case_a = _report(school_a, company)
    case_b = _report(school_b, company, narrative="Het verhaal van een student van school B.")
    db.session.commit()
    assert signals.is_signal(company.id)
    auth.login(handler_a)

    inbox = page_text(client.get("/behandelen/", query_string={"status": "all"}))
    case_page = page_text(client.get(f"/behandelen/zaken/{case_a.id}"))

    assert set(re.findall(r'href="/behandelen/zaken/(\d+)"', inbox)) == {str(case_a.id)}
    for page in (inbox, case_page):
        assert "Signaal" not in page
        assert school_b.name not in page
        assert "school B" not in page
    assert client.get(f"/behandelen/zaken/{case_b.id}").status_code == 404
    assert client.get("/sbb/").status_code == 404
    assert client.get(f"/sbb/bedrijven/{company.id}").status_code == 404


def test_the_signal_window_is_24_months_back_to_the_start_of_that_day_in_the_netherlands():
    # Midnight in the Netherlands, as naive UTC: CET is UTC+1, CEST UTC+2.
    assert signals.window_start(date(2026, 11, 23)) == datetime(2024, 11, 22, 23, 0)
    assert signals.window_start(date(2026, 7, 1)) == datetime(2024, 6, 30, 22, 0)
    # 29 February has no twin two years earlier: the window starts on the 28th.
    assert signals.window_start(date(2028, 2, 29)) == datetime(2026, 2, 27, 23, 0)


# --- The company register and per-company counts -------------------------------------------


def _counts_table(page: str) -> dict[str, str]:
    """Row label -> the count shown, from the company page's counts table."""
    section = _section(page, "counts-title")
    rows = re.findall(r'<tr[^>]*><th scope="row">(.*?)</th><td>(.*?)</td></tr>', section, re.S)
    return {html_lib.unescape(label): html_lib.unescape(value) for label, value in rows}


def _protected(cases) -> str:
    value, hidden = disclosure.shown_count(len(cases), sum(c.record_key for c in cases), 5)
    return "<5" if hidden else str(value)


def test_the_company_page_counts_only_reports_consented_to_sbb_per_year_protected(
    client, auth, reviewer
):
    company = make_company()
    school_a, school_b, school_c = make_institution(), make_institution(), make_institution()
    this_year = deadlines.today().year
    last_year = this_year - 1
    now, then = datetime(this_year, 1, 15, 12, 0), datetime(last_year, 6, 15, 12, 0)
    narratives = []

    def report(school, when, grounds, consent=True, **fields):
        narrative = f"Verhaal {len(narratives)}: de chef deed iets naars."
        narratives.append(narrative)
        return _report(
            school,
            company,
            submitted_at=when,
            grounds=grounds,
            narrative=narrative,
            consent_sbb=consent,
            **fields,
        )

    earlier = [report(school_a, then, ["origin", "religion"]) for _ in range(6)]
    earlier.append(report(school_a, then, ["origin"]))
    report(school_a, then, ["orientation"], consent=False)  # no consent: never counted
    recent = [report(school_a, now, ["age"]), report(school_b, now, ["origin"])]
    workflow.withdraw(report(school_b, now, ["gender"]))  # does not count
    recent.append(report(school_c, now, ["origin"]))
    other_company = make_company()
    other = [
        _report(school_a, other_company, submitted_at=now, grounds=["disability"], consent_sbb=True)
    ]
    db.session.commit()
    auth.login(reviewer)

    page = page_text(client.get(f"/sbb/bedrijven/{company.id}"))

    assert _counts_table(page) == {
        str(this_year): _protected(recent),
        str(last_year): _protected(earlier),
        "Alle jaren": _protected(earlier + recent),
    }
    # No count per ground: a rare one could point at one student.
    unescaped = html_lib.unescape(page)
    for label in ("Seksuele oriëntatie", "Leeftijd", "Afkomst, huidskleur of etniciteit"):
        assert label not in unescaped
    for text in narratives:
        assert text not in unescaped
    for school in (school_a, school_b, school_c):
        assert school.name not in unescaped
    for case in db.session.scalars(sa.select(Case)).all():
        assert case.number not in unescaped

    register = page_text(client.get("/sbb/bedrijven", query_string={"q": company.kvk}))
    row = re.search(rf'href="/sbb/bedrijven/{company.id}".*?</tr>', register, re.S).group(0)
    cells = [html_lib.unescape(c) for c in re.findall(r"<td>(.*?)</td>", row)]
    assert cells[-1] == _protected(earlier + recent)
    everything = page_text(client.get("/sbb/bedrijven"))
    other_row = re.search(rf'href="/sbb/bedrijven/{other_company.id}".*?</tr>', everything, re.S)
    other_cells = [html_lib.unescape(c) for c in re.findall(r"<td>(.*?)</td>", other_row.group(0))]
    assert other_cells[-1] == _protected(other)


def test_every_company_shows_the_same_years_and_a_company_never_named_shows_below_five(
    client, auth, reviewer
):
    """Neither a year's row nor its absence, nor a 0, may tell SBB that a company was (not)
    named: every company gets every year since the platform's first report, and "<5" leaves
    0 open."""
    named, never_named = make_company(), make_company()
    year = deadlines.today().year
    first = _report(
        make_institution(), named, submitted_at=datetime(year - 2, 3, 1, 12, 0), consent_sbb=True
    )
    db.session.commit()
    auth.login(reviewer)

    for company in (named, never_named):
        table = _counts_table(page_text(client.get(f"/sbb/bedrijven/{company.id}")))
        assert list(table) == [str(year), str(year - 1), str(year - 2), "Alle jaren"]
    table = _counts_table(page_text(client.get(f"/sbb/bedrijven/{named.id}")))
    assert table[str(year - 2)] == table["Alle jaren"] == _protected([first])
    assert set(
        _counts_table(page_text(client.get(f"/sbb/bedrijven/{never_named.id}"))).values()
    ) == {"<5"}
    register = page_text(client.get("/sbb/bedrijven", query_string={"q": never_named.kvk}))
    row = re.search(rf'href="/sbb/bedrijven/{never_named.id}".*?</tr>', register, re.S).group(0)
    assert html_lib.unescape(re.findall(r"<td>(.*?)</td>", row)[-1]) == "<5"


def test_a_report_of_new_years_night_counts_in_the_dutch_calendar_year(client, auth, reviewer):
    company = make_company()
    year = deadlines.today().year
    # 23:30 UTC on 31 December is 00:30 on 1 January in the Netherlands.
    _report(
        make_institution(),
        company,
        submitted_at=datetime(year - 1, 12, 31, 23, 30),
        consent_sbb=True,
    )
    db.session.commit()

    counts = signals.company_counts(company.id)

    assert counts.years == [year]


# --- Forms: CSRF and ids ----------------------------------------------------------------------


def _token(page: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def test_every_sbb_form_is_refused_without_a_csrf_token(app, client, csrf_enabled, reviewer):
    inv, _handler = _escalated()
    investigations.start(inv, reviewer)
    db.session.commit()
    token = _token(page_text(client.get("/inloggen")))
    login = client.post(
        "/inloggen", data={"email": reviewer.email, "password": PASSWORD, "csrf_token": token}
    )
    assert login.status_code == 302
    before = _state(inv)

    posts = [u for m, u, _r in _sbb_requests(app, inv.id, inv.company_id) if m == "POST"]
    answers = {url: client.post(url, data=_all_form_data()).status_code for url in posts}

    assert len(answers) >= 7
    assert {url: code for url, code in answers.items() if code != 400} == {}
    assert _state(inv) == before

    page = page_text(client.get(f"/sbb/onderzoeken/{inv.id}"))
    done = client.post(
        f"/sbb/onderzoeken/{inv.id}/besluit",
        data={**_decide_form(D.CONVERSATION), "csrf_token": _token(page)},
    )
    assert done.status_code == 302
    assert reloaded(inv).decision == D.CONVERSATION


@pytest.mark.parametrize("state", _state_params())
def test_every_id_on_the_investigation_page_is_unique(app, client, auth, reviewer, state):
    inv, _handler = _escalated()
    _bring_to(inv, state, reviewer)
    db.session.commit()
    auth.login(reviewer)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        response = client.get(f"/sbb/onderzoeken/{inv.id}")
    finally:
        app.config["WTF_CSRF_ENABLED"] = False

    assert response.status_code == 200
    ids = re.findall(r'\sid="([^"]+)"', page_text(response))
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


# --- The student withdraws a report that SBB has ----------------------------------------------


def _escalated_with_code(share_identity=False):
    institution = make_institution()
    handler = make_user(Role.HANDLER, institution)
    company = make_company()
    case, code = make_case(
        institution,
        consent_sbb=True,
        consent_sbb_identity=share_identity,
        company_id=company.id,
        is_anonymous=not share_identity,
        reporter_name=None if not share_identity else "Samira El Idrissi",
        email=None if not share_identity else "samira@student.example",
    )
    workflow.acknowledge(case, handler)
    investigation = workflow.escalate(case, handler, SUMMARY, share_identity)
    db.session.commit()
    return investigation, code


def _withdraw_with_code(app, code: str, reason: str = ""):
    student = app.test_client()
    student.post("/volgen", data={"code": code})
    page = page_text(student.get("/volgen/melding/intrekken"))
    response = student.post("/volgen/melding/intrekken", data={"confirm": "y", "reason": reason})
    assert response.status_code == 302
    return page


def test_sbb_hears_when_the_student_withdraws_and_its_copy_of_the_name_goes(
    app, client, auth, reviewer
):
    english = make_user(Role.SBB_REVIEWER, language="en")
    investigation, code = _escalated_with_code(share_identity=True)
    assert reloaded(investigation).student_name == "Samira El Idrissi"

    page = _withdraw_with_code(app, code, "Ik wil er niet meer mee bezig zijn.")

    assert "Je school heeft je melding ook aan SBB gegeven. SBB hoort dat je hem intrekt." in page
    fresh = reloaded(investigation)
    assert fresh.case.outcome == Outcome.WITHDRAWN
    assert fresh.case_withdrawn_at is not None
    assert fresh.status == IS.RECEIVED  # SBB decides itself whether to go on
    assert (fresh.shares_identity, fresh.student_name, fresh.student_email) == (False, None, None)
    [event] = audit_events("investigation.case_withdrawn")
    assert event.actor_type == "reporter"
    assert "Ik wil er niet meer" not in str(event.details)  # the student's words stay out
    subjects = {m.recipient: m.subject for m in _mails("sbb_case_withdrawn")}
    assert subjects[reviewer.email] == (
        f"{investigation.reference}: de student heeft de melding ingetrokken"
    )
    assert subjects[english.email] == f"{investigation.reference}: the student withdrew the report"
    assert all("Samira" not in m.body for m in _mails("sbb_case_withdrawn"))

    auth.login(reviewer)
    shown = page_text(client.get(f"/sbb/onderzoeken/{investigation.id}"))
    assert "De student heeft de melding op" in shown and "Samira" not in shown
    assert "ingetrokken door de student" in page_text(client.get("/sbb/"))

    # SBB can still decide on the company; the withdrawn case stays closed as it was.
    investigations.start(fresh, reviewer)
    investigations.decide(fresh, reviewer, D.WARNING, REASONING)
    db.session.commit()
    assert reloaded(fresh.case).status == Status.CLOSED
    assert reloaded(fresh.case).outcome == Outcome.WITHDRAWN


def test_a_closed_investigation_is_not_told_of_a_later_withdrawal(app, reviewer):
    investigation, code = _escalated_with_code()
    _bring_to(investigation, "closed", reviewer)
    db.session.commit()

    page = _withdraw_with_code(app, code)

    assert "SBB hoort dat je hem intrekt" not in page
    assert reloaded(investigation).case_withdrawn_at is None
    assert audit_events("investigation.case_withdrawn") == []
    assert _mails("sbb_case_withdrawn") == []
