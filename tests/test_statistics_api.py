"""The monitors' JSON API: its OpenAPI document, Bearer tokens, and the same tables.

Every response is checked against /api/v1/openapi.json with openapi-core, so
that the document and the API cannot drift apart. Tokens are made on the
account page or with `flask stagepact create-api-token`, shown once, stored as a
SHA-256 hash, and revocable. Rows and columns carry stable codes, labels come in the
language asked for; requests are rate limited.
"""

from __future__ import annotations

import hashlib
import json
import re

import pytest
import sqlalchemy as sa
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.validation.response.exceptions import InvalidData
from werkzeug.datastructures import Headers

from stagepact import api_tokens, statistics
from stagepact.extensions import db
from stagepact.models import ApiToken, AuditEvent
from stagepact.vocab import Role
from tests.factories import make_institution, make_user
from tests.helpers import audit_events, count, header_texts
from tests.statistics_world import (
    COMPANY,
    DIMENSIONS,
    LEVELS,
    NARRATIVE,
    Q1_2025,
    REPORTER,
    REPORTER_EMAIL,
    YEAR_2025,
    agrees,
    at,
    kinds,
    load_demo,
    no_small_count,
    publish,
    reports,
    seed_mixed,
    shown,
    table_rows,
    view,
)

API = "/api/v1/statistics"
TOKEN_PATTERN = re.compile(r"spm_[A-Za-z0-9_-]{40,}")


@pytest.fixture(autouse=True)
def figures():
    """Statistics computed over one report of March 2023: every quarter since is served."""
    reports(1, make_institution(name="Startcollege"), at("2023-03-12T10:00:00"), phase="other")
    publish()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@pytest.fixture(scope="module")
def spec(app) -> OpenAPI:
    """The document as the API serves it, without a token (read once: checking it is slow)."""
    with app.app_context():
        response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return OpenAPI.from_dict(response.get_json())


@pytest.fixture
def monitor():
    return make_user(Role.MONITOR, name="Mirjam Monitor", email="mirjam@minocw.example")


@pytest.fixture
def token(monitor) -> str:
    _row, plain = api_tokens.create(monitor, "Dashboard")
    db.session.commit()
    return plain


def last_used(page: str, name: str) -> str:
    """The "last used" cell of a token's row on the account page."""
    match = re.search(rf"<td>{re.escape(name)}</td>\s*<td>.*?</td>\s*<td>(.*?)</td>", page, re.S)
    assert match, f"no token {name} listed"
    return match.group(1).strip()


def bearer(plain: str) -> dict:
    return {"Authorization": f"Bearer {plain}"}


def call(client, spec: OpenAPI, params=None, headers=None, request_valid: bool | None = True):
    """GET the API; the response always conforms, the request when it should (None: either)."""
    db.session.commit()
    response = client.get(API, query_string=params or {}, headers=headers or {})
    request = WerkzeugOpenAPIRequest(response.request)
    spec.validate_response(request, WerkzeugOpenAPIResponse(response))
    errors = list(spec.iter_request_errors(request))
    if request_valid:
        assert errors == [], errors
    elif request_valid is False:
        assert errors, "the document should not allow this request"
    assert response.mimetype == "application/json"
    return response


def machine_rows(data: dict) -> list[tuple[str, list]]:
    return [(row["label"], row["values"]) for row in data["rows"]]


# --- The document ------------------------------------------------------------------------------


def test_the_openapi_document_is_public_valid_and_describes_the_api(client, spec):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    operation = document["paths"]["/statistics"]["get"]
    assert set(operation["responses"]) == {"200", "400", "401", "429"}
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
    }
    names = {p["name"] for p in operation["parameters"]}
    assert names == {
        "period",
        "year",
        "quarter",
        "granularity",
        "level",
        "dimension",
        "dimension2",
        "lang",
    }
    enums = {p["name"]: p["schema"].get("enum") for p in operation["parameters"]}
    assert enums["dimension"] == DIMENSIONS
    assert enums["level"] == LEVELS
    assert set(enums["period"]) == {"quarter", "school_year", "year", "trend"}
    assert set(enums["granularity"]) == {"quarter", "school_year", "year"}
    assert enums["lang"] == ["nl", "en"]
    table = document["components"]["schemas"]["Table"]["properties"]
    assert {"method", "computed_at", "rows_are"} <= set(table)
    # The document's own response conforms to it too.
    response = client.get("/api/v1/openapi.json")
    spec.validate_response(
        WerkzeugOpenAPIRequest(response.request), WerkzeugOpenAPIResponse(response)
    )


def test_the_conformance_check_would_notice_a_response_the_document_does_not_allow(
    client, spec, token
):
    """A control: openapi-core really validates the body against the Table schema."""
    response = client.get(API, query_string=YEAR_2025, headers=bearer(token))
    assert response.status_code == 200
    body = response.get_json()
    body["case_numbers"] = ["2025-0001"]
    response.set_data(json.dumps(body))
    with pytest.raises(InvalidData):
        spec.validate_response(
            WerkzeugOpenAPIRequest(response.request), WerkzeugOpenAPIResponse(response)
        )


# --- 200: the same tables ---------------------------------------------------------------------

VALID_QUERIES = [
    {},
    YEAR_2025,
    {"period": "year", "year": 2025, "dimension": "ground"},
    {"period": "quarter", "year": 2025, "quarter": 1, "dimension": "who"},
    {"period": "school_year", "year": 2024, "dimension": "outcome"},
    {"period": "trend", "granularity": "quarter", "dimension": "form"},
    {"period": "trend", "granularity": "school_year"},
    {**Q1_2025, "level": "region", "dimension": "channel"},
    {"period": "school_year", "year": 2024, "level": "institution", "dimension": "referred"},
    {**YEAR_2025, "dimension": "escalated", "dimension2": "sbb_decision"},
    {**YEAR_2025, "dimension": "phase", "dimension2": "ground"},
    {**YEAR_2025, "lang": "en"},
    # Parameters of another kind of period are allowed and ignored.
    {"period": "year", "year": 2025, "quarter": 3, "granularity": "year"},
]


@pytest.mark.parametrize("params", VALID_QUERIES, ids=lambda p: "&".join(map(str, p.items())))
def test_the_api_answers_every_valid_choice_as_its_document_says(client, spec, token, params):
    seed_mixed()

    response = call(client, spec, params, bearer(token))

    assert response.status_code == 200
    data = response.get_json()
    assert data["level"]["code"] == params.get("level", "sector")
    assert data["dimensions"][0]["code"] == params.get("dimension", "phase")
    assert data["method"]["name"] == "cell-key"
    assert data["computed_at"].endswith("Z")
    if params.get("period") != "trend":
        assert data["rows"][-1]["code"] == "total"
    for row in data["rows"]:
        assert not any(isinstance(v, int) and 1 <= v <= 4 for v in row["values"][:1])


@pytest.mark.parametrize(
    "params",
    [
        {"period": "year", "year": 2025, "dimension": "phase"},
        {"period": "quarter", "year": 2025, "quarter": 1, "dimension": "ground"},
        {"period": "school_year", "year": 2024, "level": "institution", "dimension": "phase"},
        {**Q1_2025, "level": "region", "dimension": "outcome"},
        {**YEAR_2025, "dimension": "phase", "dimension2": "outcome"},
        {"period": "trend", "granularity": "quarter", "dimension": "phase"},
    ],
    ids=["year", "quarter-ground", "school-year-institutions", "regions", "two-way", "trend"],
)
def test_the_api_gives_exactly_the_json_export_and_the_pages_table(
    client, auth, spec, monitor, token, params
):
    seed_mixed()
    auth.login(monitor)

    api = call(client, spec, params, bearer(token)).get_json()
    export = client.get("/statistieken/export.json", query_string=params).get_json()
    rows = table_rows(view(client, **params))

    assert api == export
    assert [c["label"] for c in api["columns"]] == rows[0][1:]
    for shown_row, (label, values) in zip(rows[1:], machine_rows(api), strict=True):
        assert label == shown_row[0]
        for text, value, kind in zip(shown_row[1:], values, kinds(rows[0]), strict=True):
            assert agrees(text, value, kind), (shown_row[0], text, value)


def test_the_api_answers_a_quarter_as_the_monitor_counted_it_by_hand(client, spec, token):
    world = seed_mixed()
    cases = [c for c in world["cases"] if c.submitted_at.year == 2025]

    data = call(client, spec, {**Q1_2025, "dimension": "phase"}, bearer(token)).get_json()

    def phase(code):
        return [c for c in cases if (c.phase or "not_given") == code]

    assert [(row["code"], row["values"][0]) for row in data["rows"]] == [
        (code, value if value == "<5" else int(value))
        for code, value in (
            ("application", shown(phase("application"))),
            ("internship", shown(phase("internship"))),
            ("school", shown(phase("school"))),
            ("other", shown([])),
            ("not_given", shown(phase("not_given"))),
            ("total", shown(cases)),
        )
    ]
    assert data["period"] == {
        "kind": "quarter",
        "code": "2025-q1",
        "label": "2025 Q1",
        "start": "2025-01-01",
        "end": "2025-04-01",
    }
    assert data["method"]["max_noise"] == 2 and data["method"]["threshold"] == 5
    assert data["columns"][0] == {"code": "count", "label": "Aantal meldingen"}
    assert data["rows_are"] == {"code": "phase", "label": "Fase"}


def test_every_api_call_is_an_audit_event_with_its_parameters_and_nothing_personal(
    client, spec, monitor, token
):
    world = seed_mixed()
    params = {"period": "quarter", "year": "2025", "quarter": "1", "dimension": "ground"}

    call(client, spec, params, bearer(token))
    call(client, spec, {"year": "1999"}, bearer(token), request_valid=False)  # 400: no event
    call(client, spec, params, request_valid=False)  # 401

    events = audit_events("statistics.api_read")
    assert len(events) == 1
    details = json.loads(events[0].details)
    row = db.session.scalar(sa.select(ApiToken))
    assert details == {
        "parameters": {
            "period": "quarter",
            "year": "2025",
            "quarter": "1",
            "level": "sector",
            "dimension": "ground",
        },
        "token_id": row.id,
    }
    assert (events[0].actor_type, events[0].actor_id) == ("user", monitor.id)
    assert events[0].case_id is None
    for secret in (token, NARRATIVE, REPORTER, REPORTER_EMAIL, COMPANY, world["albeda"].name):
        assert secret not in events[0].details


def test_the_api_speaks_the_language_asked_for_or_that_of_the_tokens_monitor(
    client, spec, monitor, token
):
    seed_mixed()
    monitor.language = "en"
    db.session.commit()
    dutch_browser = {**bearer(token), "Accept-Language": "nl"}
    query = {**YEAR_2025, "dimension": "phase"}

    english = call(client, spec, query, dutch_browser).get_json()
    dutch = call(client, spec, {**query, "lang": "nl"}, dutch_browser).get_json()

    assert english["rows"][1]["label"] == "During the internship"
    assert english["rows"][-1]["label"] == "Total"
    assert dutch["rows"][1]["label"] == "Tijdens de stage"
    # The codes and the numbers do not depend on the language.
    assert [r["code"] for r in english["rows"]] == [r["code"] for r in dutch["rows"]]
    assert [r["values"] for r in english["rows"]] == [r["values"] for r in dutch["rows"]]
    assert [c["code"] for c in english["columns"]] == [c["code"] for c in dutch["columns"]]


# --- 400 ---------------------------------------------------------------------------------------

NOT_SERVED = (
    "Voor deze periode zijn er geen cijfers: kies een periode die al voorbij was toen de "
    "cijfers werden berekend."
)
INVALID = [
    # (parameters, field -> message or None, whether the document already forbids it)
    pytest.param(
        {"dimension": "ground", "dimension2": "ground"},
        {"dimension2": "Kies twee verschillende kenmerken."},
        True,
        id="same-dimension-twice",
    ),
    pytest.param(
        {"period": "school_year", "year": 2024, "level": "institution", "dimension2": "ground"},
        {
            "dimension2": "Per regio, per instelling en in een verloop kan één kenmerk; "
            "kies hier 'Niets'."
        },
        True,
        id="two-dimensions-per-institution",
    ),
    pytest.param(
        {"level": "institution"},
        {"level": "Per instelling kan alleen per schooljaar."},
        True,
        id="institution-per-quarter",
    ),
    pytest.param({"year": "2000"}, {"year": NOT_SERVED}, True, id="before-the-figures"),
    pytest.param({"year": "2100"}, {"year": NOT_SERVED}, True, id="not-yet-over"),
    pytest.param(
        {"year": "1999"}, {"year": "Kies een jaar tussen 2000 en 2100."}, False, id="1999"
    ),
    pytest.param({"year": "twintig"}, {"year": None}, False, id="year-not-a-number"),
    pytest.param({"period": "month"}, {"period": None}, False, id="month"),
    pytest.param({"period": "range"}, {"period": None}, False, id="range"),
    pytest.param({"level": "company"}, {"level": None}, False, id="unknown-level"),
    pytest.param({"dimension": "narrative"}, {"dimension": None}, False, id="unknown-dimension"),
    pytest.param({"quarter": "5"}, {"quarter": None}, False, id="quarter-5"),
    pytest.param({"lang": "ar"}, {"lang": None}, False, id="language-the-api-has-not"),
]


@pytest.mark.parametrize(("params", "fields", "documented_valid"), INVALID)
def test_invalid_parameters_are_400_with_the_errors_per_field(
    client, spec, token, params, fields, documented_valid
):
    query = {**Q1_2025, **params}

    response = call(client, spec, query, bearer(token), request_valid=documented_valid)

    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "Invalid parameters."
    assert set(body["fields"]) == set(fields)
    for field, message in fields.items():
        assert body["fields"][field]
        if message is not None:
            assert body["fields"][field] == [message]
    assert audit_events("statistics.api_read") == []


@pytest.mark.parametrize(
    "params",
    [
        {"year": "2025", "token": "x"},
        {"year": "2025", "institution_id": "1"},
        {"year": "2025", "Dimension": "phase"},
        {"year": "2025", "company": "x", "case": "1"},
        {"year": "2025", "month": "3"},
    ],
    ids=["token", "institution_id", "case-differs", "two-unknown", "month"],
)
def test_unknown_parameters_are_refused_by_name(client, spec, token, params):
    response = call(client, spec, params, bearer(token))

    assert response.status_code == 400
    unknown = sorted(set(params) - {"year"})
    assert response.get_json() == {
        "error": "Unknown parameters.",
        "fields": {name: ["unknown"] for name in unknown},
    }
    assert audit_events("statistics.api_read") == []


def test_an_empty_second_dimension_means_none(client, spec, token):
    # The document lists "" among dimension2's values, but without allowEmptyValue an
    # OpenAPI client may not send it; the API takes it as "no second dimension" anyway.
    response = call(client, spec, {"dimension2": ""}, bearer(token), request_valid=None)
    assert response.status_code == 200
    assert [d["code"] for d in response.get_json()["dimensions"]] == ["phase"]


def test_every_parameter_the_document_names_is_accepted(client, spec, token):
    for params in (
        {"period": "quarter", "year": 2025, "quarter": 4},
        {"period": "school_year", "year": 2024},
        {"period": "year", "year": 2025},
        *({"period": "trend", "granularity": g} for g in ("quarter", "school_year", "year")),
        {"period": "school_year", "year": 2024, "level": "institution"},
        *({"level": level} for level in LEVELS[:2]),
        *({"dimension": d} for d in DIMENSIONS),
        *({"dimension": "phase", "dimension2": d} for d in DIMENSIONS[1:]),
        *({"lang": lang} for lang in ("nl", "en")),
    ):
        assert call(client, spec, params, bearer(token)).status_code == 200, params


def test_the_api_is_rate_limited_per_token_with_a_json_answer(client, spec, token, limited):
    from stagepact.api import routes

    answers = [call(client, spec, {}, bearer(token)).status_code for _ in range(125)]
    assert routes.PER_CLIENT.startswith("120 per minute")
    assert answers[:120] == [200] * 120
    assert answers[120:] == [429] * 5


# --- 401 ---------------------------------------------------------------------------------------


def _assert_401(response) -> None:
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert set(response.get_json()) == {"error"}


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic bWlyamFtOnBhc3M=",
        "Bearer spm_" + "A" * 43,
        "Bearer not-a-token",
        "Bearer spm_" + "A" * 300,
    ],
    ids=["none", "empty", "no-token", "blank", "basic", "unknown", "no-prefix", "too-long"],
)
def test_a_request_without_a_valid_token_is_401(client, spec, token, authorization):
    seed_mixed()
    headers = {} if authorization is None else {"Authorization": authorization}

    response = call(client, spec, {"year": 2025}, headers, request_valid=None)

    _assert_401(response)
    assert "rows" not in response.get_json()
    assert audit_events("statistics.api_read") == []


def test_the_scheme_name_is_case_insensitive_and_the_token_exact(client, spec, token):
    assert call(client, spec, {}, {"Authorization": f"bearer {token}"}).status_code == 200
    _assert_401(call(client, spec, {}, {"Authorization": f"Bearer {token}x"}, None))
    _assert_401(call(client, spec, {}, {"Authorization": f"Bearer {token[:-1]}"}, None))


def test_a_logged_in_monitors_session_cookie_opens_nothing_here(client, auth, spec, monitor):
    seed_mixed()
    auth.login(monitor)
    assert client.get("/statistieken/?year=2025").status_code == 200

    response = call(client, spec, {"year": 2025}, request_valid=False)

    _assert_401(response)
    assert audit_events("statistics.api_read") == []


def test_a_token_stops_working_when_its_monitor_is_deactivated_or_no_longer_a_monitor(
    client, spec, monitor, token
):
    assert call(client, spec, {}, bearer(token)).status_code == 200

    monitor.active = False
    _assert_401(call(client, spec, {}, bearer(token)))

    monitor.active = True
    monitor.role = Role.PLATFORM_ADMIN
    _assert_401(call(client, spec, {}, bearer(token)))

    monitor.role = Role.MONITOR
    assert call(client, spec, {}, bearer(token)).status_code == 200


@pytest.mark.parametrize(
    "role", [Role.HANDLER, Role.INSTITUTION_ADMIN, Role.SBB_REVIEWER, Role.PLATFORM_ADMIN]
)
def test_a_token_held_by_another_role_is_401(client, spec, role):
    user = make_user(role)
    plain = "spm_" + "b" * 43
    db.session.add(ApiToken(user_id=user.id, name="ondergeschoven", token_hash=_digest(plain)))
    db.session.commit()

    _assert_401(call(client, spec, {}, bearer(plain)))
    # Nor can one be made for them.
    with pytest.raises(api_tokens.TokenError):
        api_tokens.create(user, "x")


# --- Tokens on the account page ---------------------------------------------------------------


def test_a_monitor_makes_a_token_on_the_account_page_and_sees_it_once(
    app, client, auth, spec, monitor
):
    auth.login(monitor)
    page = client.get("/account").get_data(as_text=True)
    assert "API-sleutels" in page and not TOKEN_PATTERN.search(page)

    response = client.post("/account/api-sleutels", data={"name": "Dashboard Inspectie"})

    assert response.status_code == 200
    shown = TOKEN_PATTERN.findall(response.get_data(as_text=True))
    assert len(set(shown)) == 1
    plain = shown[0]
    row = db.session.scalar(sa.select(ApiToken))
    assert (row.user_id, row.name) == (monitor.id, "Dashboard Inspectie")
    assert row.token_hash == _digest(plain)
    stored = db.session.execute(sa.select(ApiToken.__table__)).one()
    assert all(plain not in str(value) for value in stored)
    assert not any(plain in text for text in header_texts(app, response))
    # Never shown again.
    again = client.get("/account").get_data(as_text=True)
    assert plain not in again and not TOKEN_PATTERN.search(again)
    assert last_used(again, "Dashboard Inspectie") == "nooit"
    event = audit_events("api_token.created")[-1]
    assert json.loads(event.details) == {"token_id": row.id, "user_id": monitor.id}
    assert (event.actor_type, event.actor_id) == ("user", monitor.id)
    for event in db.session.scalars(sa.select(AuditEvent)):
        assert plain not in event.details

    # It works, and its use is recorded.
    assert row.last_used_at is None
    assert call(client, spec, {}, bearer(plain)).status_code == 200
    db.session.expire_all()
    assert db.session.get(ApiToken, row.id).last_used_at is not None
    assert (
        last_used(client.get("/account").get_data(as_text=True), "Dashboard Inspectie") != "nooit"
    )


def test_a_token_needs_a_name_and_a_monitor_has_at_most_ten(client, auth, monitor):
    auth.login(monitor)

    response = client.post("/account/api-sleutels", data={"name": "  "})
    assert response.status_code == 422
    assert 'id="name-error"' in response.get_data(as_text=True)
    assert count(ApiToken) == 0

    for n in range(api_tokens.MAX_ACTIVE):
        api_tokens.create(monitor, f"sleutel {n}")
    db.session.commit()
    response = client.post("/account/api-sleutels", data={"name": "elfde"})
    assert response.status_code == 422
    assert "10 sleutels" in response.get_data(as_text=True)
    assert not TOKEN_PATTERN.search(response.get_data(as_text=True))
    assert count(ApiToken) == api_tokens.MAX_ACTIVE


def test_a_revoked_token_is_401_at_once_and_stays_listed_as_revoked(
    client, auth, spec, monitor, token
):
    row = db.session.scalar(sa.select(ApiToken))
    auth.login(monitor)
    assert call(client, spec, {}, bearer(token)).status_code == 200

    response = client.post(f"/account/api-sleutels/{row.id}/intrekken")

    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(ApiToken, row.id).revoked_at is not None
    _assert_401(call(client, spec, {}, bearer(token)))
    page = client.get("/account").get_data(as_text=True)
    assert "ingetrokken op" in page
    assert f"/account/api-sleutels/{row.id}/intrekken" not in page
    event = audit_events("api_token.revoked")[-1]
    assert json.loads(event.details) == {"token_id": row.id, "user_id": monitor.id}
    assert (event.actor_type, event.actor_id) == ("user", monitor.id)
    # Revoking again changes nothing.
    client.post(f"/account/api-sleutels/{row.id}/intrekken")
    assert len(audit_events("api_token.revoked")) == 1


def test_only_the_owner_revokes_a_token_and_only_monitors_make_them(client, auth, spec, token):
    row = db.session.scalar(sa.select(ApiToken))
    other = make_user(Role.MONITOR)
    auth.login(other)

    assert client.post(f"/account/api-sleutels/{row.id}/intrekken").status_code == 404
    assert client.post("/account/api-sleutels/987654/intrekken").status_code == 404
    assert call(client, spec, {}, bearer(token)).status_code == 200

    auth.logout()
    handler = make_user(Role.HANDLER, make_institution())
    auth.login(handler)
    assert client.post("/account/api-sleutels", data={"name": "x"}).status_code == 404
    assert client.post(f"/account/api-sleutels/{row.id}/intrekken").status_code == 404
    assert "API-sleutels" not in client.get("/account").get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(ApiToken, row.id).revoked_at is None
    assert count(ApiToken) == 1


def test_the_token_forms_need_the_csrf_token(client, auth, csrf_enabled, monitor, token):
    row = db.session.scalar(sa.select(ApiToken))
    auth.login(monitor)

    made = client.post("/account/api-sleutels", data={"name": "zonder csrf"})
    revoked = client.post(f"/account/api-sleutels/{row.id}/intrekken")

    assert made.status_code in (400, 422) and not TOKEN_PATTERN.search(made.get_data(as_text=True))
    assert revoked.status_code in (400, 404)
    db.session.expire_all()
    assert count(ApiToken) == 1
    assert db.session.get(ApiToken, row.id).revoked_at is None


# --- Tokens from the command line -------------------------------------------------------------


def _create_api_token(runner, *args):
    result = runner.invoke(args=["stagepact", "create-api-token", *args])
    db.session.expire_all()
    return result


def test_create_api_token_prints_the_token_once_and_stores_only_its_hash(
    runner, client, spec, monitor
):
    db.session.commit()

    result = _create_api_token(runner, monitor.email.upper(), "--name", "Koppeling JOB")

    assert result.exit_code == 0, result.output
    plain = result.output.strip()
    assert TOKEN_PATTERN.fullmatch(plain)
    assert result.output == plain + "\n"
    row = db.session.scalar(sa.select(ApiToken))
    assert (row.user_id, row.name, row.token_hash) == (monitor.id, "Koppeling JOB", _digest(plain))
    assert all(plain not in str(v) for v in db.session.execute(sa.select(ApiToken.__table__)).one())
    event = audit_events("api_token.created")[-1]
    assert event.actor_type == "system" and plain not in event.details
    assert call(client, spec, {}, bearer(plain)).status_code == 200

    second = _create_api_token(runner, monitor.email)
    assert second.exit_code == 0
    assert second.output.strip() != plain
    assert db.session.scalars(sa.select(ApiToken.name).order_by(ApiToken.id)).all() == [
        "Koppeling JOB",
        "CLI",
    ]


@pytest.mark.parametrize("who", ["handler", "platform_admin", "inactive_monitor", "nobody"])
def test_create_api_token_refuses_anyone_but_an_active_monitor(runner, who):
    email = "iemand@example.org"
    if who == "handler":
        make_user(Role.HANDLER, make_institution(), email=email)
    elif who == "platform_admin":
        make_user(Role.PLATFORM_ADMIN, email=email)
    elif who == "inactive_monitor":
        make_user(Role.MONITOR, email=email, active=False)
    db.session.commit()

    result = _create_api_token(runner, email)

    assert result.exit_code == 1
    assert not TOKEN_PATTERN.search(result.output)
    assert count(ApiToken) == 0
    assert audit_events("api_token.created") == []


# --- The demo -----------------------------------------------------------------------------------


def test_the_demo_has_a_monitor_who_reads_statistics_and_pulls_the_api(runner, client, auth, spec):
    monitor = load_demo(runner, auth)
    assert client.get("/statistieken/").status_code == 200

    result = _create_api_token(runner, monitor.email)
    assert result.exit_code == 0, result.output
    found = statistics.publication().periods("school_year")
    assert found, "the demo's reports fill a school year that is over"
    query = {"period": "school_year", "year": found[-1].start.year, "level": "institution"}
    data = call(client, spec, query, bearer(result.output.strip())).get_json()

    # The demo's three institutions (and the test's own), and the total.
    assert len(data["rows"]) == 4 + 1
    assert no_small_count(value for _label, values in machine_rows(data) for value in values)


def test_the_api_sends_no_cookie_and_is_not_cached(client, spec, token):
    response = call(client, spec, {}, bearer(token))

    assert "Set-Cookie" not in Headers(response.headers)
    assert "no-store" in response.headers.get("Cache-Control", "")
