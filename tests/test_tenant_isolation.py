"""Tenant isolation on the desk: another institution's case does not exist for a handler,
and the desk does not exist for anyone but handlers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from stagepact import workflow
from stagepact.extensions import db
from stagepact.models import AuditEvent, Case, Message
from stagepact.vocab import Outcome, Role, Status
from tests.factories import make_attachment, make_case, make_institution, make_user
from tests.helpers import in_blueprint, walk_routes

# Filled in for every POST, so that a request that wrongly reached a case would change it.
FORM_DATA = {
    "outcome": str(Outcome.OUT_OF_SCOPE),
    "message": "Wij sluiten af.",
    "duplicate_of": "",
    "reason": "Nieuwe informatie.",
    "assignee": "",
    "body": "Een bericht dat hier niet hoort.",
    "is_feedback": "y",
    "channel": "phone",
    "narrative": "Ingevoerd namens een student.",
    "reporter_role": "self",
    "anonymity": "anonymous",
    "contact_preference": "none",
    "erase-confirm": "y",
}

# The desk's case routes today; the walk over the URL map must find at least these.
KNOWN_CASE_ENDPOINTS = {
    "desk.case_detail",
    "desk.acknowledge",
    "desk.start_follow_up",
    "desk.close",
    "desk.reopen",
    "desk.assign",
    "desk.message",
    "desk.note",
    "desk.erase",
}


def _desk_requests(
    app, case_id: int | None = None, only_case_routes: bool = True, attachment_id: int = 1
):
    """(method, url, endpoint) for every desk rule; a new route is covered without a change here."""
    in_desk = in_blueprint("desk")
    routes = walk_routes(
        app,
        {"case_id": case_id, "attachment_id": attachment_id},
        where=lambda rule: in_desk(rule) and ("case_id" in rule.arguments or not only_case_routes),
        methods=("GET", "POST"),
    )
    return [(route.method, route.url, route.endpoint) for route in routes]


def _send(client, method: str, url: str):
    if method == "POST":
        return client.post(url, data=FORM_DATA)
    return client.get(url)


def _state(case: Case) -> dict:
    """What a user would notice had changed about a case."""
    db.session.expire_all()
    fresh = db.session.get(Case, case.id)
    return {
        "status": fresh.status,
        "outcome": fresh.outcome,
        "assigned_to": fresh.assigned_to_id,
        "acknowledged_at": fresh.acknowledged_at,
        "personal_data_erased_at": fresh.personal_data_erased_at,
        "messages": db.session.scalar(
            sa.select(sa.func.count()).select_from(Message).where(Message.case_id == case.id)
        ),
        "audit events": db.session.scalar(
            sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.case_id == case.id)
        ),
    }


@dataclass
class TwoInstitutions:
    handler_a: object
    case_a: Case
    handler_b: object
    cases_b: list[Case]


@pytest.fixture
def two_institutions():
    """Institution A with one case; institution B with a new, a followed-up and a closed case."""
    a, b = make_institution(), make_institution()
    handler_a = make_user(Role.HANDLER, a, name="Anna van School A")
    handler_b = make_user(Role.HANDLER, b, name="Bert van School B")
    case_a = make_case(a)[0]
    workflow.assign(case_a, handler_a, handler_a)
    case_a.ack_due_on = date(2020, 1, 6)  # A's own case shows under "mine" and "overdue"

    new_b = make_case(b)[0]
    new_b.ack_due_on = date(2020, 1, 6)  # overdue, so the overdue filter would pick it up
    in_progress_b = make_case(b)[0]
    workflow.acknowledge(in_progress_b, handler_b)
    workflow.start_follow_up(in_progress_b, handler_b)
    workflow.send_message(in_progress_b, handler_b, "Wanneer kun je langskomen?")
    closed_b = make_case(b)[0]
    workflow.acknowledge(closed_b, handler_b)
    workflow.start_follow_up(closed_b, handler_b)
    workflow.close(closed_b, handler_b, Outcome.RESOLVED, "Opgelost.")
    closed_b.erasure_requested_at = closed_b.closed_at  # B's handler may erase it; A's may not
    db.session.commit()
    return TwoInstitutions(handler_a, case_a, handler_b, [new_b, in_progress_b, closed_b])


def test_the_walk_over_the_desk_routes_finds_every_case_route(app):
    endpoints = {endpoint for _method, _url, endpoint in _desk_requests(app, case_id=1)}
    assert endpoints >= KNOWN_CASE_ENDPOINTS


def test_handler_cannot_open_or_act_on_other_institutions_case(app, client, auth, two_institutions):
    world = two_institutions
    files = {case.id: make_attachment(case).id for case in world.cases_b}
    before = {case.id: _state(case) for case in world.cases_b}
    auth.login(world.handler_a)

    answers = {}
    for case in world.cases_b:
        for method, url, _endpoint in _desk_requests(app, case.id, attachment_id=files[case.id]):
            answers[(method, url)] = _send(client, method, url).status_code

    assert {request: code for request, code in answers.items() if code != 404} == {}
    assert {case.id: _state(case) for case in world.cases_b} == before


def test_the_same_desk_urls_do_work_for_the_handlers_own_case(app, client, auth, two_institutions):
    """The contrast that makes the 404s above mean something."""
    world = two_institutions
    own_file = make_attachment(world.case_a).id
    auth.login(world.handler_a)
    for method, url, _endpoint in _desk_requests(app, world.case_a.id, attachment_id=own_file):
        assert _send(client, method, url).status_code != 404, (method, url)


QUERIES = [
    {},
    {"status": "all"},
    *({"status": str(status)} for status in Status),
    {"mine": "y"},
    {"overdue": "y"},
    {"status": "all", "submitted_from": "2000-01-01", "submitted_to": "2100-12-31"},
    {"status": "all", "per_page": "100"},
]


def _listed_case_ids(html: str) -> set[int]:
    return {int(i) for i in re.findall(r'href="/behandelen/zaken/(\d+)"', html)}


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: "&".join(f"{k}={v}" for k, v in q.items()))
def test_inbox_never_lists_other_institutions_cases(client, auth, two_institutions, query):
    world = two_institutions
    auth.login(world.handler_a)
    response = client.get("/behandelen/", query_string=query)
    assert response.status_code == 200
    listed = _listed_case_ids(response.get_data(as_text=True))
    assert listed.isdisjoint({case.id for case in world.cases_b})
    if query.get("status") in ("all", "new", None):
        assert world.case_a.id in listed  # the inbox does list A's own case


def test_searching_for_another_institutions_case_number_finds_nothing(
    client, auth, two_institutions
):
    world = two_institutions
    only_in_b = world.cases_b[-1].number  # B's third case; A has only one
    auth.login(world.handler_a)
    response = client.get("/behandelen/", query_string={"status": "all", "number": only_in_b})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert _listed_case_ids(html) == set()
    assert "0 meldingen gevonden" in html


@pytest.mark.parametrize(
    "role", [Role.INSTITUTION_ADMIN, Role.SBB_REVIEWER, Role.MONITOR, Role.PLATFORM_ADMIN]
)
def test_other_roles_find_no_desk_not_even_for_their_own_institutions_case(app, client, auth, role):
    institution = make_institution()
    make_user(Role.HANDLER, institution)
    user = make_user(role, institution if role == Role.INSTITUTION_ADMIN else None)
    case = make_case(institution)[0]
    db.session.commit()
    before = _state(case)
    assert auth.login(user).status_code == 302

    answers = {}
    for method, url, _endpoint in _desk_requests(app, case.id, only_case_routes=False):
        answers[(method, url)] = _send(client, method, url).status_code

    assert len(answers) > len(KNOWN_CASE_ENDPOINTS)
    assert {request: code for request, code in answers.items() if code != 404} == {}
    assert _state(case) == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 1


def test_anonymous_visitors_are_sent_to_the_login_page_from_every_desk_url(app, client):
    institution = make_institution()
    make_user(Role.HANDLER, institution)
    case = make_case(institution)[0]
    db.session.commit()
    before = _state(case)

    for method, url, _endpoint in _desk_requests(app, case.id, only_case_routes=False):
        response = _send(client, method, url)
        assert response.status_code == 302, (method, url)
        assert urlsplit(response.headers["Location"]).path == "/inloggen", (method, url)

    assert _state(case) == before


def test_assignment_is_offered_and_accepted_only_for_handlers_of_the_same_institution(
    client, auth, two_institutions
):
    world = two_institutions
    colleague = make_user(Role.HANDLER, world.case_a.institution, name="Carla Collega")
    admin = make_user(Role.INSTITUTION_ADMIN, world.case_a.institution, name="Dirk Beheerder")
    former = make_user(Role.HANDLER, world.case_a.institution, name="Eva Vertrokken", active=False)
    db.session.commit()
    auth.login(world.handler_a)
    page = client.get(f"/behandelen/zaken/{world.case_a.id}").get_data(as_text=True)

    offered = set(re.findall(r'<option[^>]*value="(\d+)"', page))
    assert offered == {str(world.handler_a.id), str(colleague.id)}
    for outsider in (world.handler_b, admin, former):
        assert outsider.name not in page
        response = client.post(
            f"/behandelen/zaken/{world.case_a.id}/toewijzen", data={"assignee": str(outsider.id)}
        )
        assert response.status_code == 422
        assert _state(world.case_a)["assigned_to"] == world.handler_a.id

    assigned = client.post(
        f"/behandelen/zaken/{world.case_a.id}/toewijzen", data={"assignee": str(colleague.id)}
    )
    assert assigned.status_code == 302
    assert _state(world.case_a)["assigned_to"] == colleague.id


def test_the_workflow_itself_refuses_an_assignee_from_another_institution(two_institutions):
    world = two_institutions
    with pytest.raises(workflow.WorkflowError) as refused:
        workflow.assign(world.case_a, world.handler_a, world.handler_b)
    assert refused.value.field == "assignee"
    assert world.case_a.assigned_to_id == world.handler_a.id
