"""Every route of the app, for every role, tried rather than assumed (issue 5).

The walk builds its requests from the URL map, so that a new route is covered
without being listed here: every argument of every rule is filled from one
world (two institutions with their staff, cases in several states with files,
an SBB investigation, companies, an ADV, an API token, a student who opened a
case with the receipt code). Who may reach what is written out by hand below,
by blueprint and endpoint, from DESIGN.md ("Who uses it", "Security and
privacy"), not derived from the code.

- A request the role may make is answered (200, a redirect, or 400/409/422 when
  the data or the case's state does not fit), never with 403, 404 or 405.
- A request the role may not make is a 404 (a redirect to the login page for a
  visitor without a staff session; the receipt-code page for the student's case
  pages; 401 for the token-only API), and changes nothing in the database.
- A GET changes nothing but the audit trail, whoever sends it.
- With CSRF protection on, every POST without the token is refused (400, or the
  student's forms shown again with 422, as they check their own token) and
  changes nothing; the same POST with the token gets through.
- Every POST-only route answers a GET with 405; the API has no POST at all.
- Every response carries the security headers; session cookies are HttpOnly
  and SameSite=Lax.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from stagepact import attachments, workflow
from stagepact.extensions import db
from stagepact.models import Attachment, AttachmentContent, Case
from stagepact.vocab import Role
from tests.factories import (
    PASSWORD,
    make_institution,
    make_user,
)
from tests.helpers import HOST, restore_rows, unknown_arguments
from tests.route_world import (
    ANONYMOUS,
    ARGUMENTS,
    BLUEPRINT_ACCESS,
    CASE_STATES,
    ENDPOINT_ACCESS,
    HANDLER_A,
    HANDLER_B,
    MONITOR,
    OWN_TOKEN_FORMS,
    ROLES,
    SAME_ORIGIN_POST,
    SBB,
    SESSION_CHANGING,
    STAFF,
    STUDENT,
    Browser,
    KeptWorld,
    World,
    access_for,
    answer_problem,
    build_world,
    changed_tables,
    csrf_token,
    first_allowed_role,
    header_problems,
    post_data,
    refusal_problem,
    snapshot,
    walk,
)

# --- The tests -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kept_world(app):
    """The world, built once for this module's tests and kept as rows and files."""
    with app.app_context():
        kept = KeptWorld(build_world())
        restore_rows({})  # the tables empty again, as every test leaves them
        db.session.remove()
    return kept


@pytest.fixture
def world(kept_world) -> World:
    """The module's world, as it was built: what an earlier test changed is undone."""
    return kept_world.restore()


def test_the_kept_world_comes_back_as_built(app, kept_world):
    world = kept_world.restore()
    built = snapshot()
    case = world.cases["new"]
    workflow.acknowledge(case, world.users[HANDLER_A])
    db.session.delete(world.case_b)
    file = case.attachments[0]
    content = attachments.read(file)
    db.session.execute(
        sa.delete(AttachmentContent).where(AttachmentContent.attachment_id == file.id)
    )
    db.session.commit()
    assert snapshot() != built

    again = kept_world.restore()

    assert snapshot() == built
    assert again.cases["new"].status == "new" and again.case_b is not None
    assert attachments.read(db.session.get(Attachment, file.id)) == content


def test_the_walk_knows_every_argument_and_reaches_every_endpoint(app, world):
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"]
    unknown = {rule.rule: unknown_arguments(rule, ARGUMENTS) for rule in rules}
    assert {rule: names for rule, names in unknown.items() if names} == {}, (
        "teach this test these arguments (add them to ARGUMENTS)"
    )
    walked = {request.endpoint for request in walk(app, world)}
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()} - {"static"}
    assert walked == endpoints
    # Every endpoint has a written-down rule, and every POST has data that would act.
    for endpoint in endpoints:
        access_for(endpoint)
    posts = {r.endpoint for r in app.url_map.iter_rules() if "POST" in r.methods}
    missing = posts - set(post_data(world))
    assert not missing, f"teach this test valid form data for {sorted(missing)} (post_data)"
    # The table describes routes that exist.
    assert set(ENDPOINT_ACCESS) <= endpoints
    assert {e.split(".")[0] for e in endpoints} >= set(BLUEPRINT_ACCESS)


@pytest.mark.parametrize("role", ROLES)
def test_every_route_for_every_role(app, role, world):
    """Each role walks every route: allowed ones answer, the others are refused and
    change nothing; no GET changes anything but the audit trail."""
    data = post_data(world)
    browser = Browser(app, world, role, keep=True)
    requests = walk(app, world)
    problems, headers, allowed_count, refused_count = {}, [], 0, 0

    before = snapshot()
    for request in requests:
        access = access_for(request.endpoint)
        allowed = role in access.who
        response = browser.send(request, data.get(request.endpoint, {}))
        after = snapshot()
        key = f"{request.method} {request.url} [{request.endpoint}]"
        problem = (
            answer_problem(access, request, response)
            if allowed
            else refusal_problem(access, role, response)
        )
        if problem:
            problems[key] = problem
        if (not allowed or request.method == "GET") and after != before:
            verb = "refused" if not allowed else "a GET"
            problems[key + " changed"] = f"{verb}, yet changed {changed_tables(before, after)}"
        if allowed:
            allowed_count += 1
        else:
            refused_count += 1
        if allowed and request.endpoint in SESSION_CHANGING:
            browser.reset()
            after = snapshot()
        before = after

    for method, url, response in browser.responses:
        headers += header_problems(method, url, response)
    assert problems == {}
    assert headers == []
    # The walk did try both sides for every role but the ones everything is refused to.
    assert allowed_count > 0 and refused_count > 0


def test_the_walk_tries_each_state_of_a_case_and_institution_bs_handler_gets_404s(app, world):
    """The matrix above names A's cases in every state; spelled out for handler B."""
    browser = Browser(app, world, HANDLER_B)
    case_urls = [
        r
        for r in walk(app, world)
        if any(
            f"/zaken/{case.id}" in r.url or f"/onderzoeken/{world.investigation.id}" in r.url
            for case in world.cases.values()
        )
    ]
    named = {int(m) for r in case_urls for m in re.findall(r"/zaken/(\d+)", r.url)}
    assert named == {case.id for case in world.cases.values()}
    assert {case.status for case in world.cases.values()} == set(CASE_STATES)
    before = snapshot()
    answers = {
        f"{r.method} {r.url}": browser.send(r, post_data(world).get(r.endpoint, {})).status_code
        for r in case_urls
    }
    assert len(answers) > 6 * 15
    assert {request: code for request, code in answers.items() if code != 404} == {}
    assert snapshot() == before


def test_a_file_is_reached_only_through_its_own_case_or_investigation(app, world):
    """The URL must name the file's own case: another case's file is a 404, even one's own."""
    escalated = world.cases["escalated"]
    before = snapshot()
    attempts = {
        # B's handler: their own case, with A's file.
        HANDLER_B: [
            f"/behandelen/zaken/{world.case_b.id}/bestanden/{world.shared_file}",
            f"/behandelen/zaken/{escalated.id}/bestanden/{world.file_b}",
        ],
        # A's handler: A's case, with B's file or the file of another of A's cases.
        HANDLER_A: [
            f"/behandelen/zaken/{escalated.id}/bestanden/{world.file_b}",
            f"/behandelen/zaken/{world.cases['new'].id}/bestanden/{world.shared_file}",
        ],
        # SBB: the investigation's file that was not shared, and a file of another case.
        SBB: [
            f"/sbb/onderzoeken/{world.investigation.id}/bestanden/{world.unshared_file}",
            f"/sbb/onderzoeken/{world.investigation.id}/bestanden/{world.file_b}",
        ],
        # The student: a file of another case.
        STUDENT: [
            f"/volgen/melding/bestanden/{world.shared_file}",
            f"/volgen/melding/bestanden/{world.file_b}",
        ],
    }
    answers = {}
    for role, urls in attempts.items():
        browser = Browser(app, world, role)
        for url in urls:
            answers[(role, url)] = browser.client.get(url).status_code
    assert {key: code for key, code in answers.items() if code != 404} == {}
    assert snapshot() == before
    # The contrast: the same roles do reach the files they may.
    allowed = {
        HANDLER_B: f"/behandelen/zaken/{world.case_b.id}/bestanden/{world.file_b}",
        HANDLER_A: f"/behandelen/zaken/{escalated.id}/bestanden/{world.unshared_file}",
        SBB: f"/sbb/onderzoeken/{world.investigation.id}/bestanden/{world.shared_file}",
        STUDENT: f"/volgen/melding/bestanden/{world.files[world.student_case.id]}",
    }
    for role, url in allowed.items():
        assert Browser(app, world, role).client.get(url).status_code == 200, (role, url)


# How a browser reaches the site: plain HTTP as in development, or HTTPS with the settings
# production adds (ProductionConfig's own: Secure cookies and whatever else follows from
# TLS), sending the headers a real browser sends with a same-origin form POST.
TRANSPORTS = {
    "http": (f"http://{HOST}", {}),
    "https-production": (f"https://{HOST}", SAME_ORIGIN_POST),
}


@pytest.fixture(params=list(TRANSPORTS))
def transport(request, app):
    """The base URL and headers of one transport; production's settings for HTTPS."""
    base_url, headers = TRANSPORTS[request.param]
    changed = {}
    if base_url.startswith("https:"):
        changed = production_transport_settings()
    saved = {key: app.config.get(key) for key in changed}
    app.config.update(changed)
    yield base_url, headers
    app.config.update(saved)


def production_transport_settings() -> dict:
    """What production sets beyond the common configuration, but for two-factor login
    (this walk logs in with a password; the TLS browser journeys log in with TOTP)."""
    from config import ProductionConfig

    own = {
        key: value
        for key, value in vars(ProductionConfig).items()
        if key.isupper() and key not in {"TWO_FACTOR_ENFORCED", "ENV_NAME"}
    }
    return {**own, "PUBLIC_BASE_URL": f"https://{HOST}"}  # production refuses http here


def refused_as_forged(response) -> bool:
    """The answer to a request the CSRF protection refused: 400 and its own page."""
    return response.status_code == 400 and "Je sessie is verlopen" in response.get_data(True)


def _each_post_with_the_browser_allowed_to_make_it(app, world, transport):
    base_url, headers = transport
    browsers = {}
    for request in (r for r in walk(app, world) if r.method == "POST"):
        role = first_allowed_role(access_for(request.endpoint))
        if role not in browsers:
            browsers[role] = Browser(
                app, world, role, csrf=True, base_url=base_url, headers=headers
            )
        yield request, role, browsers[role]
        browsers[role].reset()


def test_every_post_is_refused_without_a_csrf_token_and_accepted_with_it(
    app, csrf_enabled, transport, world
):
    data = post_data(world)
    refused, accepted, posts = {}, {}, 0

    for request, role, browser in _each_post_with_the_browser_allowed_to_make_it(
        app, world, transport
    ):
        posts += 1
        before = snapshot()
        response = browser.send(request, data[request.endpoint])
        expected = 422 if request.endpoint in OWN_TOKEN_FORMS else 400
        key = f"{role}: POST {request.url} [{request.endpoint}]"
        if response.status_code != expected:
            refused[key] = f"{response.status_code}, expected {expected}"
        if snapshot() != before:
            refused[key + " changed"] = changed_tables(before, snapshot())
        # The token is all that was missing: with it, the same data get through.
        with_token = browser.send(request, data[request.endpoint], with_token=True)
        if with_token.status_code == expected or refused_as_forged(with_token):
            accepted[key] = f"{with_token.status_code} with the token too"

    assert posts > 100
    assert refused == {}
    assert accepted == {}


# A page on another site that posts a form here, with the token of a victim's session (as
# if it had leaked): each signal that the request comes from elsewhere is refused alone.
FOREIGN = "https://elders.example"
CROSS_SITE = {
    "foreign Origin": {"Origin": FOREIGN},
    "foreign Referer": {"Referer": f"{FOREIGN}/formulier"},
    "cross-site fetch": {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
    "same-site fetch": {"Sec-Fetch-Site": "same-site"},
    "other scheme": {"Origin": f"http://{HOST}"},
}


def test_a_post_from_another_site_is_refused_even_with_a_valid_token(app, csrf_enabled, world):
    data = post_data(world)
    https = (f"https://{HOST}", SAME_ORIGIN_POST)
    saved = {key: app.config.get(key) for key in production_transport_settings()}
    app.config.update(production_transport_settings())
    let_through, posts = {}, 0
    try:
        for request, role, browser in _each_post_with_the_browser_allowed_to_make_it(
            app, world, https
        ):
            posts += 1
            for attack, headers in CROSS_SITE.items():
                before = snapshot()
                response = browser.send(request, data[request.endpoint], True, headers)
                key = f"{attack}: {role} POST {request.url}"
                if not refused_as_forged(response):
                    let_through[key] = response.status_code
                if snapshot() != before:
                    let_through[key + " changed"] = changed_tables(before, snapshot())
    finally:
        app.config.update(saved)
    assert posts > 100
    assert let_through == {}


def test_every_post_only_route_answers_get_with_405_and_the_api_takes_no_post(app, world):
    post_only = [r for r in walk(app, world) if r.method == "POST" and r.post_only]
    assert len({r.endpoint for r in post_only}) > 30
    browsers = {}
    answers = {}
    before = snapshot()
    for request in post_only:
        for role in {ANONYMOUS, first_allowed_role(access_for(request.endpoint))}:
            if role not in browsers:
                browsers[role] = Browser(app, world, role)
            response = browsers[role].client.get(request.url)
            answers[(role, request.url)] = response.status_code
    assert {key: code for key, code in answers.items() if code != 405} == {}
    assert snapshot() == before

    api_rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/api/")]
    assert api_rules
    assert {r.rule: sorted(r.methods) for r in api_rules if "POST" in r.methods} == {}
    client = app.test_client()
    auth = {"Authorization": f"Bearer {world.api_token}"}
    assert client.post("/api/v1/statistics", headers=auth).status_code == 405


def test_the_api_opens_with_its_token_only(app, world):
    monitor = Browser(app, world, MONITOR)
    auth = {"Authorization": f"Bearer {world.api_token}"}
    trend = "/api/v1/statistics?period=trend"  # served whatever the figures cover
    assert monitor.client.get(trend).status_code == 401  # the cookie opens nothing
    assert app.test_client().get(trend, headers=auth).status_code == 200
    wrong = {"Authorization": f"Bearer {world.api_token}x"}
    assert app.test_client().get(trend, headers=wrong).status_code == 401


def test_security_headers_on_error_pages_static_files_and_logins(app, world):
    """The role walk checks every answer it got; here the answers it does not give."""
    client = app.test_client()
    responses = [
        ("GET", "/niet-bestaand", client.get("/niet-bestaand")),
        ("GET", "/volgen/stoppen", client.get("/volgen/stoppen")),  # 405
        ("GET", "/static/css/main.css", client.get("/static/css/main.css")),
        (
            "POST",
            "/inloggen",
            client.post("/inloggen", data={"email": "x@example.org", "password": "fout"}),
        ),
        (
            "POST",
            "/inloggen",
            client.post(
                "/inloggen",
                data={"email": world.users[HANDLER_A].email, "password": PASSWORD},
            ),
        ),
    ]
    assert [r.status_code for _m, _u, r in responses] == [404, 405, 200, 401, 302]
    assert responses[-1][2].headers.getlist("Set-Cookie"), "the login sets the session cookie"
    problems = []
    for method, url, response in responses:
        problems += header_problems(method, url, response, static=url.startswith("/static/"))
    assert problems == []


def test_student_pages_send_no_referrer_and_staff_pages_same_origin(app, world):
    """A student's pages tell nobody, not even this site, where the student came from;
    staff pages let a form posted here carry this site's Origin (web_security.py)."""
    gets = [r for r in walk(app, world) if r.method == "GET"]
    expected = {
        ANONYMOUS: lambda r: "same-origin" if r.endpoint.startswith("auth.") else "no-referrer",
        STUDENT: lambda r: "same-origin" if r.endpoint.startswith("auth.") else "no-referrer",
        HANDLER_A: lambda r: "same-origin",
        SBB: lambda r: "same-origin",
    }
    wrong = {}
    for role, policy_for in expected.items():
        browser = Browser(app, world, role)
        for request in gets:
            if request.endpoint.startswith("api."):
                continue  # the API answers JSON to programs, under a token
            policy = browser.send(request, {}).headers.get("Referrer-Policy")
            if policy != policy_for(request):
                wrong[f"{role}: {request.url}"] = policy
    assert len(gets) > 50
    assert wrong == {}


def test_behind_a_proxy_that_ends_tls_staff_log_in_with_the_forwarded_scheme(tmp_path):
    """TLS ended at a reverse proxy (TRUSTED_PROXIES=1, X-Forwarded-Proto: https): the app
    sees HTTPS, sets its Secure cookie, and takes the staff login from its own page."""
    from config import TestConfig
    from stagepact import create_app

    proxied = create_app(
        TestConfig,
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'proxied.sqlite'}",
            "TRUSTED_PROXIES": 1,
            "WTF_CSRF_ENABLED": True,
            **production_transport_settings(),
        },
    )
    forwarded = {"X-Forwarded-For": "192.0.2.7", "X-Forwarded-Proto": "https"}
    with proxied.app_context():
        db.create_all()
        handler = make_user(Role.HANDLER, make_institution())
        db.session.commit()
        client = proxied.test_client()
        page = client.get("/inloggen", headers=forwarded)
        login = {"email": handler.email, "password": PASSWORD}
        login["csrf_token"] = csrf_token(page.get_data(as_text=True))
        browser_says = {**forwarded, "Origin": f"https://{HOST}", "Sec-Fetch-Site": "same-origin"}
        response = client.post("/inloggen", data=login, headers=browser_says)
        assert response.status_code == 302
        cookie = response.headers["Set-Cookie"]
        assert cookie.startswith("__Host-session=") and "Secure" in cookie
        assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
        # The same login from another site's page is refused.
        other_site = {**browser_says, "Origin": "https://elders.example"}
        assert refused_as_forged(client.post("/inloggen", data=login, headers=other_site))
        db.session.remove()
        db.drop_all()


def test_the_world_is_what_the_matrix_assumes(app, world):
    """If the world drifts, the matrix would silently test less."""
    statuses = {state: db.session.get(Case, case.id).status for state, case in world.cases.items()}
    assert statuses == {state: state for state in CASE_STATES}
    assert [a.id for a in world.investigation.attachments] == [world.shared_file]
    assert world.colleague.institution_id == world.a.id
    assert not world.added_company.verified
    assert world.case_b.institution_id == world.b.id
    assert set(world.users) == STAFF
