"""Hostile input to every form and to the API: never a 500, never stored markup rendered as HTML.

The forms are found, not listed. Every POST route of the URL map is tried, with the
fields of the <form> that posts to it as the app itself renders it: every page each
role may open is read (cases and investigations in every state, the student's case
pages through the receipt code) and its forms parsed. The two forms behind a pending
login are taken from their WTForms class. The GET forms (the desk's and SBB's
filters, searches, the statistics page) and the JSON API are found the same way.

Hypothesis starts from valid data (so that markup does get stored and shown) and
replaces, drops or adds fields: long strings (up to 100,000 characters), control
characters and NUL, right-to-left overrides, zero-width joiners, emoji, HTML and
script, SQL fragments, huge and negative numbers, impossible dates, lists where one
value is expected. Each example gets a fresh case (or investigation, colleague,
company, token) in a state where the form is offered, posts as the role that may,
and then reads the pages that show what was stored: the desk's and the student's
case page, SBB's investigation page, the staff list, the ADV register, the meldpunt.

tests/test_report_form.py already types hostile text into each text field of the
report form and reads it back; here the report form is one form among all others,
with every field at once, wrong types and missing fields.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.exceptions import HTTPException

from config import TestConfig
from stagepact import accounts, api_tokens, create_app, investigations
from stagepact.api.routes import PARAMETERS as API_PARAMETERS
from stagepact.auth import CodeForm
from stagepact.extensions import db
from stagepact.models import ApiToken, Case, Investigation, utcnow
from stagepact.vocab import Decision, Role
from tests.factories import PASSWORD, make_company, make_user
from tests.helpers import rule_for
from tests.route_world import (
    ADMIN_A,
    ANONYMOUS,
    CASE_STATES,
    CODE,
    CODE_AGAIN,
    HANDLER_A,
    HOST,
    MONITOR,
    OPERATOR,
    PLATFORM,
    ROLES,
    SBB,
    STUDENT,
    TOKEN,
    Browser,
    World,
    access_for,
    build_world,
    case_in_state,
    fill_arguments,
    first_allowed_role,
    post_data,
    walk,
)

# The URL map, to parametrize over at collection time (no database is touched).
URL_MAP = create_app(TestConfig, {"SQLALCHEMY_DATABASE_URI": "sqlite://"}).url_map
POST_ENDPOINTS = sorted({r.endpoint for r in URL_MAP.iter_rules() if "POST" in r.methods})
GET_ENDPOINTS = sorted(
    {r.endpoint for r in URL_MAP.iter_rules() if "GET" in r.methods and r.endpoint != "static"}
)

# Forms the app only renders behind a pending login (a password given, a code owed).
FORM_CLASSES = {"auth.second_factor": CodeForm, "auth.enrol": CodeForm}
# Query parameters views read besides their forms' fields (pagination, searches).
QUERY_EXTRAS = ["page", "per_page", "signal_page", "q", "bedrijf", "doel", "status", "next"]
INVESTIGATION_STATES = ["received", "investigating", "decided", "objection", "closed"]
TEXT_KINDS = {"text", "textarea", "email", "search", "tel", "url", "password"}

# --- Hostile values ----------------------------------------------------------------------

MARKUP = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']
# What must never appear in a page: the markup above, rendered as markup.
RENDERED = ("<script>alert(1)</script>", "<img src=x onerror")
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
HOSTILE = [
    *MARKUP,
    "</textarea><script>alert(1)</script>",
    "' OR 1=1 --",
    "'; DROP TABLE report_case; --",
    "1 UNION SELECT password_hash FROM user_account",
    "\x00",
    "abc\x00def",
    "\x07\x08\x1b[2J\x7f",
    "\r\n",
    "\u202egnp.exe\u202c",  # right-to-left override
    "\u200f\u200e\u061c",  # right-to-left and left-to-right marks
    "a\u200db\u200bc\ufeff",  # zero-width joiner, space, byte order mark
    "👩🏽‍🎓🏳️‍🌈",
    "\U0010ffff",
    "{{ config }}{% raw %}",
    "%(name)s %s %n",
    "&amp; &lt;b&gt;",
    "javascript:alert(1)",
    "//evil.example/",
    "../../etc/passwd",
]
NUMBERS = [str(10**30), str(-(10**30)), "-1", "0", "1e309", "NaN", "3.5", "0x10", "١٢٣", "²"]
DATES = ["9999-99-99", "0000-00-00", "2024-02-30", "31-12-9999", "0001-01-01", "-2024-01-01"]
FLAGS = ["y", "on", "true", "no", "", " "]

long_text = st.builds(
    lambda piece, size: (piece * (size // len(piece) + 1))[:size],
    st.sampled_from([*MARKUP, "x", "é", "\u202e", "a\x00"]),
    st.integers(min_value=1_000, max_value=100_000),
)
scalar = st.one_of(
    st.sampled_from(HOSTILE),
    st.sampled_from(NUMBERS + DATES + FLAGS),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.text(max_size=30),  # any code point but surrogates: control characters too
    st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=8)), min_size=2, max_size=5).map(
        "".join
    ),
    long_text,
)
# A list where one value is expected: the field repeated.
value = st.one_of(scalar, st.lists(scalar, min_size=2, max_size=3))
KEEP, DROP = "keep the valid value", "leave the field out"
junk_names = st.one_of(st.sampled_from([*MARKUP, "\x00", "a[]", "__class__"]), st.text(max_size=12))


# --- Inputs that once gave a 500 (kept as regression tests at the end of this file) ---------

SQLITE = os.environ.get("DATABASE_URL", "sqlite://").startswith("sqlite")


def _values(value) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def hostile_form(fields: list[str], valid: dict):
    """Valid data with fields replaced by hostile values, left out, or added."""
    choices = st.fixed_dictionaries(
        {name: st.one_of(st.just(KEEP), st.just(DROP), value) for name in fields}
    )
    extra = st.dictionaries(junk_names, value, max_size=2)

    def merge(chosen: dict, added: dict) -> dict:
        data = {**added}
        for name, choice in chosen.items():
            if choice == KEEP:
                if name in valid:
                    data[name] = valid[name]
            elif choice != DROP:
                data[name] = choice
        return data

    return st.builds(merge, choices, extra)


def _settings(examples: int):
    return settings(
        max_examples=int(os.environ.get("HOSTILE_EXAMPLES_FACTOR", "1")) * examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# --- Finding the forms -------------------------------------------------------------------


@dataclass
class Form:
    method: str
    action: str
    fields: dict = field(default_factory=dict)  # name -> kind


class FormParser(HTMLParser):
    """The <form>s of a page with the names and kinds of their fields, and the links that
    carry a query string (pagination, exports) as GET forms of their own."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._form: Form | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        href = attributes.get("href") or ""
        link = urlsplit(href)
        if tag == "a" and link.query and not link.scheme and not link.netloc:
            names = {name: "link" for name in parse_qs(link.query)}
            self.forms.append(Form("GET", link.path or "?", names))
        elif tag == "form":
            method = (attributes.get("method") or "get").upper()
            self._form = Form(method, attributes.get("action") or "")
            self.forms.append(self._form)
        elif self._form is not None and tag in ("input", "textarea", "select", "button"):
            name = attributes.get("name")
            if name and name != "csrf_token":
                kind = (attributes.get("type") or "text") if tag == "input" else tag
                self._form.fields.setdefault(name, kind)

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None


def parse_forms(html: str) -> list[Form]:
    parser = FormParser()
    parser.feed(html)
    return parser.forms


@dataclass
class Found:
    """What reading every page of a world found."""

    post_fields: dict = field(default_factory=dict)  # endpoint -> {name: kind}
    get_fields: dict = field(default_factory=dict)
    # The states of the cases, investigations and student case pages that offered a form.
    case_states: dict = field(default_factory=dict)
    investigation_states: dict = field(default_factory=dict)
    student_states: dict = field(default_factory=dict)
    unresolved: list = field(default_factory=list)  # forms posting to no route


def investigation_in_state(world: World, status: str):
    """An escalation of a fresh case of A, brought to `status` by SBB."""
    handler, reviewer = world.users[HANDLER_A], world.users[SBB]
    case, _code, _files = case_in_state(world.a, handler, world.adv, world.company, "escalated")
    found = case.investigations[-1]
    if status != "received":
        investigations.start(found, reviewer)
    if status in ("decided", "objection", "closed"):
        investigations.decide(found, reviewer, Decision.WARNING, "Een waarschuwing.")
    if status == "objection":
        investigations.record_objection(found, reviewer)
    if status == "closed":
        investigations.close(found, reviewer)
    assert found.status == status
    db.session.commit()
    return found


def _record(found: Found, page_url: str, html: str, states: tuple[str, str] | None) -> None:
    adapter = URL_MAP.bind(HOST)
    for form in parse_forms(html):
        path = urlsplit(form.action).path.rstrip("?") or urlsplit(page_url).path
        try:
            endpoint, _args = adapter.match(path, method=form.method)
        except HTTPException:
            found.unresolved.append((page_url, form.method, form.action))
            continue
        target = found.post_fields if form.method == "POST" else found.get_fields
        target.setdefault(endpoint, {}).update(form.fields)
        if states and form.method == "POST":
            kind, state = states
            getattr(found, kind).setdefault(endpoint, set()).add(state)


def discover(app) -> Found:
    """Read every page each role may open in a world, and the pages in every state."""
    found = Found()
    world = build_world()
    case_state = {case.id: state for state, case in world.cases.items()}
    # Forms a page shows only for some data: resetting 2FA needs a colleague who uses it.
    with_2fa = make_user(Role.HANDLER, world.a, name="Tom Tweestaps")
    accounts.begin_enrolment(with_2fa)
    with_2fa.totp_enabled_at = utcnow()
    db.session.commit()
    for role in ROLES:
        browser = Browser(app, world, role)
        for request in walk(app, world):
            if request.method != "GET" or role not in access_for(request.endpoint).who:
                continue
            response = browser.client.get(request.url)
            if response.mimetype != "text/html":
                continue
            states = None
            if request.endpoint == "desk.case_detail":
                case_id = int(request.url.rstrip("/").rsplit("/", 1)[1])
                states = ("case_states", case_state[case_id])
            _record(found, request.url, response.get_data(as_text=True), states)
    sbb = Browser(app, world, SBB).client
    # Forms that come with search results: linking a company, merging a company.
    follow_up = world.cases["follow_up"]
    for client, url in [
        (Browser(app, world, HANDLER_A).client, f"/behandelen/zaken/{follow_up.id}?bedrijf=Korst"),
        (sbb, f"/sbb/bedrijven/{world.added_company.id}?doel=Korst"),
    ]:
        states = ("case_states", "follow_up") if url.startswith("/behandelen") else None
        _record(found, url, client.get(url).get_data(as_text=True), states)
    for status in INVESTIGATION_STATES:
        url = f"/sbb/onderzoeken/{investigation_in_state(world, status).id}"
        _record(found, url, sbb.get(url).get_data(as_text=True), ("investigation_states", status))
    for state, code in world.codes.items():
        student = app.test_client()
        assert student.post("/volgen", data={"code": code}).status_code == 302
        for url in ("/volgen/melding", "/volgen/melding/intrekken", "/volgen/melding/verwijderen"):
            html = student.get(url).get_data(as_text=True)
            _record(found, url, html, ("student_states", state))
    with app.test_request_context():
        for endpoint, form_class in FORM_CLASSES.items():
            form = form_class(meta={"csrf": False})
            found.post_fields.setdefault(endpoint, {f.name: f.type for f in form})
    return found


def _wipe() -> None:
    db.session.rollback()
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())
    db.session.remove()


@pytest.fixture(scope="module")
def found(app):
    """The forms of the app, found once for this module in a world of its own."""
    with app.app_context():
        try:
            return discover(app)
        finally:
            _wipe()  # the tests start from empty tables, as conftest leaves them


# --- One example: a fresh object, the POST, the pages that show it ------------------------


@dataclass
class Target:
    url: str
    client: object
    case: object = None
    code: str | None = None
    investigation: object = None


class Arena:
    """A world for one test's examples, with a logged-in browser per staff role."""

    def __init__(self, app, found: Found):
        self.app, self.found = app, found
        self.world = build_world(states=("follow_up", "escalated"))
        self.valid = post_data(self.world)
        self.adapter = app.url_map.bind(HOST)
        self._browsers = {}
        self._seq = itertools.count(1)

    def browser(self, role: str):
        if role not in self._browsers:
            self._browsers[role] = Browser(self.app, self.world, role)
        return self._browsers[role].client

    def student(self, code: str):
        client = self.app.test_client()
        assert client.post("/volgen", data={"code": code}).status_code == 302
        return client

    def fresh_case(self, state: str):
        world = self.world
        case, code, _files = case_in_state(
            world.a, world.users[HANDLER_A], world.adv, world.company, state
        )
        db.session.commit()
        return case, code

    def _rule(self, endpoint: str, method: str):
        return rule_for(self.app.url_map, endpoint, method)

    def _values(self, rule, target: Target, state: str | None) -> dict:
        """A fresh object for each argument that names one, so that each example finds it
        as the world made it; the others from the world."""
        world, n = self.world, next(self._seq)
        values = {}
        for name in rule.arguments:
            if name == "case_id":
                target.case, target.code = self.fresh_case(state or "follow_up")
                values[name] = target.case.id
            elif name == "investigation_id":
                target.investigation = investigation_in_state(world, state or "received")
                target.case = target.investigation.case
                values[name] = target.investigation.id
            elif name == "user_id":
                colleague, _token = accounts.invite(
                    email=f"collega.{n}@example.org",
                    name=f"Collega {n}",
                    role=Role.HANDLER,
                    institution=world.a,
                    actor=world.users[ADMIN_A],
                )
                values[name] = colleague.id
            elif name == "company_id":
                values[name] = make_company(name=f"Toegevoegd {n}", verified=False).id
            elif name == "token_id":
                monitor = world.users[MONITOR]
                db.session.execute(
                    sa.update(ApiToken)
                    .where(ApiToken.user_id == monitor.id, ApiToken.revoked_at.is_(None))
                    .values(revoked_at=utcnow())
                )
                values[name] = api_tokens.create(monitor, f"Sleutel {n}")[0].id
            elif name == "token":
                _user, values[name] = accounts.invite(
                    email=f"uitgenodigd.{n}@example.org",
                    name=f"Uitgenodigd {n}",
                    role=Role.HANDLER,
                    institution=world.a,
                    actor=world.users[ADMIN_A],
                )
            elif name in ("slug",):
                values[name] = world.a.slug
            elif name == "institution_id":
                values[name] = world.a.id
            elif name == "adv_id":
                values[name] = world.adv.id
            elif name == "attachment_id":
                values[name] = world.files[world.student_case.id]
            elif getattr(rule._converters.get(name), "items", None):
                values[name] = sorted(rule._converters[name].items)[0]
            else:  # pragma: no cover - test_route_matrix refuses unknown arguments first
                raise AssertionError(f"teach this test the argument {name}")
        db.session.commit()
        return values

    def prepare(self, endpoint: str, method: str, state: str | None) -> Target:
        rule = self._rule(endpoint, method)
        target = Target(url="", client=None)
        values = self._values(rule, target, state)
        target.url = self.adapter.build(endpoint, values, method=method)
        role = first_allowed_role(access_for(endpoint))
        if endpoint in OWN_ACCOUNT:
            target.client = self.fresh_login()
        elif role == STUDENT:
            target.case, target.code = self.fresh_case(state or "follow_up")
            target.client = self.student(target.code)
        elif role == ANONYMOUS:
            target.client = self.app.test_client()
            self._pending_login(endpoint, target.client)
        else:
            target.client = self.browser(role)
        return target

    def fresh_login(self):
        """A new colleague's browser, for forms that change the account that sends them."""
        user = make_user(Role.HANDLER, self.world.a)
        db.session.commit()
        client = self.app.test_client()
        data = {"email": user.email, "password": PASSWORD}
        assert client.post("/inloggen", data=data).status_code == 302
        return client

    def _pending_login(self, endpoint: str, client) -> None:
        """The two-factor forms need a password given and a code owed."""
        if endpoint == "auth.second_factor":
            user = make_user(Role.HANDLER, self.world.a)
            accounts.begin_enrolment(user)
            user.totp_enabled_at = utcnow()
        elif endpoint == "auth.enrol":
            user = make_user(Role.MONITOR)
        else:
            return
        db.session.commit()
        self.app.config["TWO_FACTOR_ENFORCED"] = True
        try:
            response = client.post("/inloggen", data={"email": user.email, "password": PASSWORD})
        finally:
            self.app.config["TWO_FACTOR_ENFORCED"] = False
        assert response.status_code == 302 and "/inloggen/" in response.headers["Location"]

    def showing_pages(self, endpoint: str, target: Target, new_cases, new_investigations):
        """(client, url) of the pages that show what this form may have stored."""
        world = self.world
        pages = []
        cases = [c for c in [target.case, *new_cases] if c is not None]
        for case in cases:
            pages.append((self.browser(HANDLER_A), f"/behandelen/zaken/{case.id}"))
        if target.code is not None:
            pages.append((self.student(target.code), "/volgen/melding"))
        shown = {i.id for c in cases for i in c.investigations}
        if target.investigation is not None:
            shown.add(target.investigation.id)
        shown |= {i.id for i in new_investigations}
        for investigation_id in sorted(shown):
            pages.append((self.browser(SBB), f"/sbb/onderzoeken/{investigation_id}"))
        blueprint = endpoint.split(".")[0]
        if blueprint == "organisation":
            pages.append((self.browser(ADMIN_A), "/organisatie/medewerkers"))
            pages.append((self.browser(ADMIN_A), "/organisatie/instelling"))
        if blueprint in ("organisation", "platform"):
            pages.append((self.app.test_client(), f"/meldpunt/{world.a.slug}"))
            pages.append((self.app.test_client(), f"/meldpunt/{world.a.slug}/huisstijl.css"))
        if blueprint == "platform":
            pages.append((self.browser(PLATFORM), "/beheer/adv"))
            pages.append((self.browser(PLATFORM), "/beheer/instellingen"))
        if blueprint == "sbb" or endpoint == "desk.link_company":
            pages.append((self.browser(SBB), "/sbb/bedrijven"))
            pages.append((self.browser(SBB), "/sbb/"))
        if blueprint == "auth":
            pages.append((self.browser(MONITOR), "/account"))
        return pages


# Forms that change the account that sends them: each example logs in a new colleague.
OWN_ACCOUNT = {"auth.logout", "auth.change_password"}
# What typed text would bring into a stylesheet (an institution's colour is one).
CSS_INJECTION = ("<", "\\", "url(", "@import", "expression(", "javascript:")


def rendered_markup(label: str, response) -> list[str]:
    if response.mimetype == "text/css":
        css = response.get_data(as_text=True).lower()
        return [f"{label}: stylesheet holds {bad!r}" for bad in CSS_INJECTION if bad in css]
    if response.mimetype != "text/html":
        return []  # JSON, CSV and downloads are not rendered as HTML
    page = response.get_data(as_text=True).lower()
    return [f"{label}: renders {marker!r}" for marker in RENDERED if marker in page]


def off_site(label: str, response) -> list[str]:
    """A redirect anywhere but this site ('next' and the like must not send visitors away)."""
    location = response.headers.get("Location")
    if not location:
        return []
    parts = urlsplit(location)
    if parts.scheme not in ("", "http", "https") or parts.netloc not in ("", HOST):
        return [f"{label}: redirects off the site, to {location[:80]!r}"]
    return []


def _max_id(model) -> int:
    return db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(model.id), 0)))


@dataclass
class Read:
    problems: list
    shown_escaped: bool  # a page read after the POST showed the markup, escaped


def post_and_read(
    arena: Arena, endpoint: str, state: str | None, data: dict, needle: str = ESCAPED
) -> Read:
    """Post `data` to a fresh target of `endpoint`; the problems with the answer and with
    the pages that show what was stored (and whether they show `needle`)."""
    db.session.rollback()  # whatever an earlier example left behind
    target = arena.prepare(endpoint, "POST", state)
    last_case, last_investigation = _max_id(Case), _max_id(Investigation)
    response = target.client.post(target.url, data=data)
    db.session.rollback()
    problems = []
    if response.status_code >= 500:
        problems.append(f"POST {target.url}: {response.status_code}")
    problems += rendered_markup(f"POST {target.url}", response)
    problems += off_site(f"POST {target.url}", response)
    shown_escaped = False
    new_cases = db.session.scalars(sa.select(Case).where(Case.id > last_case)).all()
    new_investigations = db.session.scalars(
        sa.select(Investigation).where(Investigation.id > last_investigation)
    ).all()
    for client, url in arena.showing_pages(endpoint, target, new_cases, new_investigations):
        page = client.get(url)
        if page.status_code >= 500:
            problems.append(f"GET {url} after POST {target.url}: {page.status_code}")
        problems += rendered_markup(f"GET {url} after POST {target.url}", page)
        shown_escaped = shown_escaped or needle in page.get_data(as_text=True)
    return Read(problems, shown_escaped)


def offered_states(found: Found, endpoint: str) -> list[str]:
    """The states of the case, investigation or student's case in which the form is offered
    (in the order of the workflow); empty for a form that names none."""
    rule = rule_for(URL_MAP, endpoint, "POST")
    if "case_id" in rule.arguments:
        return [s for s in CASE_STATES if s in found.case_states.get(endpoint, ())]
    if "investigation_id" in rule.arguments:
        states = found.investigation_states.get(endpoint, ())
        return [s for s in INVESTIGATION_STATES if s in states]
    if access_for(endpoint).refusal in (CODE, CODE_AGAIN):
        return [s for s in CASE_STATES if s in found.student_states.get(endpoint, ())]
    return []


def _names_an_object(endpoint: str) -> bool:
    rule = rule_for(URL_MAP, endpoint, "POST")
    return bool({"case_id", "investigation_id"} & set(rule.arguments)) or access_for(
        endpoint
    ).refusal in (CODE, CODE_AGAIN)


# --- The tests -------------------------------------------------------------------------


def test_every_form_is_found_and_posts_to_a_route(found):
    missing = [e for e in POST_ENDPOINTS if e not in found.post_fields]
    assert missing == [], "teach this test where these forms are (FORM_CLASSES)"
    assert found.unresolved == []
    never_offered = [
        e for e in POST_ENDPOINTS if _names_an_object(e) and not offered_states(found, e)
    ]
    assert never_offered == [], "no page of the world offers these forms in any state"
    # The walk did read the forms it should.
    assert {"narrative", "grounds", "phase", "attachments"} <= set(
        found.post_fields["student.report"]
    )
    assert {"note-body"} <= set(found.post_fields["desk.note"])
    assert {"decision", "reasoning", "conditions_due_on"} <= set(found.post_fields["sbb.decide"])
    assert {"status", "number", "submitted_from"} <= set(found.get_fields["desk.inbox"])
    assert {"period", "year", "dimension"} <= set(found.get_fields["stats.index"])


@pytest.fixture
def arena(app, found):
    return Arena(app, found)


# Examples per form: a form with fields to fill gets more than a button.
FORM_EXAMPLES, BUTTON_EXAMPLES = 6, 2


@pytest.mark.parametrize("endpoint", POST_ENDPOINTS)
def test_hostile_input_to_every_form(arena, found, endpoint):
    states = offered_states(found, endpoint)
    valid = arena.valid[endpoint]
    fields = sorted(set(found.post_fields[endpoint]) | set(valid))

    @_settings(examples=FORM_EXAMPLES if fields else BUTTON_EXAMPLES)
    @given(
        state=st.sampled_from(states) if states else st.none(),
        posted=hostile_form(fields, valid),
    )
    def post_anything(state, posted):
        read = post_and_read(arena, endpoint, state, posted)
        assert read.problems == []

    post_anything()


def test_markup_typed_into_any_text_field_is_stored_and_shown_escaped(arena, found):
    """Each text field of each form in turn gets the markup, the rest valid data."""
    problems, shown = [], set()
    for endpoint in POST_ENDPOINTS:
        if endpoint == "student.report":
            continue  # tests/test_report_form.py does this field by field
        states = offered_states(found, endpoint)
        fields = found.post_fields[endpoint]
        for n, name in enumerate(sorted(n for n, kind in fields.items() if kind in TEXT_KINDS)):
            tag = f"{endpoint}-{n}"  # so that a page shows this very value, not an earlier one
            valid = {k: v for k, v in arena.valid[endpoint].items() if k not in SWEEP_DROP}
            posted = {**valid, name: tag + "".join(MARKUP)}
            state = states[0] if states else None
            read = post_and_read(arena, endpoint, state, posted, needle=tag + ESCAPED)
            problems += read.problems
            if read.shown_escaped:
                shown.add(f"{endpoint} {name}")
    assert problems == []
    # Stored values did come back on the pages read, escaped: the check above was not empty.
    assert shown >= STORED_AND_SHOWN


# A company typed in is linked only when none is chosen from the register.
SWEEP_DROP = {"company_id"}
# Values that are stored and shown on a page read after the POST (escaped).
STORED_AND_SHOWN = {
    "auth.create_api_token name",
    "desk.adv_answer adv-note",
    "desk.close message",
    "desk.escalate sbb-summary",
    "desk.link_company new_name",
    "desk.message body",
    "desk.new_report company_text",
    "desk.new_report incident_period",
    "desk.new_report narrative",
    "desk.new_report programme",
    "desk.note note-body",
    "desk.refer refer-summary",
    "desk.reopen reason",
    "desk.sbb_message sbbmsg-body",
    "organisation.invite name",
    "organisation.settings intro_text",
    "platform.adv_edit name",
    "platform.adv_edit region",
    "platform.adv_new name",
    "platform.adv_new region",
    "sbb.decide reasoning",
    "sbb.message body",
    "sbb.open_investigation reason",
    "student.send_message body",
    "student.withdraw reason",
}


# Examples per page: one with a query form, or the API, gets more than one without.
QUERY_FORM_EXAMPLES, PAGE_EXAMPLES = 8, 2


@pytest.mark.parametrize("endpoint", GET_ENDPOINTS)
def test_hostile_queries_to_every_page(arena, found, endpoint, monkeypatch):
    access = access_for(endpoint)
    rule = rule_for(URL_MAP, endpoint, "GET")
    url = arena.adapter.build(endpoint, fill_arguments(rule, arena.world)[0])
    has_form = endpoint in found.get_fields or access.refusal == TOKEN
    fields = sorted({*found.get_fields.get(endpoint, {}), *QUERY_EXTRAS})
    headers = {}
    if access.refusal == TOKEN:
        fields = sorted({*fields, *API_PARAMETERS})
        client = arena.app.test_client()
        headers["Authorization"] = f"Bearer {arena.world.api_token}"
    elif access.refusal == OPERATOR:
        token = "the-operators-metrics-token-0123456789"  # noqa: S105
        monkeypatch.setitem(arena.app.config, "METRICS_TOKEN", token)
        client = arena.app.test_client()
        headers["Authorization"] = f"Bearer {token}"
    else:
        role = first_allowed_role(access)
        if role == STUDENT:
            client = arena.student(arena.world.student_code)
        elif role == ANONYMOUS:
            client = arena.app.test_client()
        else:
            client = arena.browser(role)

    @_settings(examples=QUERY_FORM_EXAMPLES if has_form else PAGE_EXAMPLES)
    @given(query=hostile_form(fields, {}))
    def ask_anything(query):
        response = client.get(url, query_string=query, headers=headers)
        assert response.status_code < 500
        assert rendered_markup(f"GET {url}", response) == []
        assert off_site(f"GET {url}", response) == []

    ask_anything()


header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=300)


@_settings(examples=40)
@given(
    authorization=st.one_of(
        header_text,
        header_text.map(lambda t: "Bearer " + t),
        st.sampled_from(["Bearer", "Bearer ", "Basic Zm9vOmJhcg==", "bearer spm_" + "a" * 500]),
    )
)
def test_hostile_tokens_to_the_api(app, authorization):
    response = app.test_client().get("/api/v1/statistics", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.is_json


# --- Bugs found --------------------------------------------------------------------------

LIKE = (
    "On SQLite (the embedded default database) a search text over 50,000 bytes reaches a LIKE "
    "pattern, which SQLite refuses ('LIKE or GLOB pattern too complex'): a 500. "
)
BLANK = (
    "A value of only whitespace in an optional select: WTForms' Optional() stops the "
    "validation chain and clears the errors, so the choice is never checked and the view "
    "gets ' ': a 500. "
)
DIGIT = "'²' passes str.isdigit() but int('²') raises ValueError: a 500. "
RANGE = (
    "A number beyond the id column reaches a query (only URL ids are range-checked, by "
    "RowIdConverter): OverflowError on SQLite, 'integer out of range' on PostgreSQL: a 500. "
)
ID_ERRORS = (OverflowError, sa.exc.DataError)
HUGE = "1" + "0" * 30


def _bug(name, endpoint, changes, raises, reason, active=True):
    """A hostile value that once gave a 500 (`reason`); kept as a regression test."""
    return pytest.param(endpoint, changes, active, id=name)


def _on_both_report_forms(name, changes, raises, reason, active=True):
    return [
        _bug(f"report-{name}", "student.report", changes, raises, reason, active),
        _bug(f"intake-{name}", "desk.new_report", changes, raises, reason, active),
    ]


COMPANY_SEARCH = (
    LIKE + "The report form's and the intake form's 'find the company' button search with "
    "company_search before validation (ReportForm.prepare_companies -> companies.search), "
    "without its Length(max=100) or the [:100] cap the other searches have."
)
BUGS = [
    *_on_both_report_forms(
        "long-company-search",
        {"company_search": "x" * 60_000, "find_company": ""},
        sa.exc.OperationalError,
        COMPANY_SEARCH,
        active=SQLITE,
    ),
    *_on_both_report_forms(
        "blank-study-year",
        {"study_year": " "},
        ValueError,
        BLANK + "ReportForm.to_report_data does int(self.study_year.data).",
    ),
    *_on_both_report_forms(
        "blank-level",
        {"level": " "},
        sa.exc.IntegrityError,
        BLANK + "ReportForm.to_report_data stores level ' ', which the CHECK constraint "
        "ck_report_case_level refuses on insert.",
    ),
    *_on_both_report_forms(
        "superscript-company",
        {"company_id": "²"},
        ValueError,
        DIGIT + "ReportForm.prepare_companies does int(chosen_id) after "
        "str(chosen_id).isdigit(), on every POST.",
    ),
    *_on_both_report_forms(
        "huge-company",
        {"company_id": HUGE},
        ID_ERRORS,
        RANGE + "ReportForm.prepare_companies -> companies.get(int(chosen_id)).",
    ),
    _bug(
        "assign-blank",
        "desk.assign",
        {"assignee": " "},
        ValueError,
        BLANK + "desk.assign does int(form.assignee.data).",
    ),
    _bug(
        "refer-superscript-file",
        "desk.refer",
        {"refer-attachment_ids": "²"},
        ValueError,
        DIGIT + "desk.routes._ids checks str(v).isdigit() and then does int(v).",
    ),
    _bug(
        "escalate-superscript-file",
        "desk.escalate",
        {"sbb-attachment_ids": "²"},
        ValueError,
        DIGIT + "desk.routes._ids checks str(v).isdigit() and then does int(v).",
    ),
    _bug(
        "link-superscript-company",
        "desk.link_company",
        {"company_id": "²"},
        ValueError,
        DIGIT + "LinkCompanyForm.validate checks company_id.isdigit() and then does int().",
    ),
    _bug(
        "link-eleven-digit-company",
        "desk.link_company",
        {"company_id": "9" * 11},
        sa.exc.DataError,
        RANGE + "LinkCompanyForm.validate -> companies.get(int(company_id)); its Length(max=12) "
        "is not checked first (validate goes on after super().validate() failed) and 12 "
        "digits do not fit PostgreSQL's INTEGER anyway.",
        active=not SQLITE,
    ),
    _bug(
        "merge-huge-target",
        "sbb.merge_company",
        {"target_id": HUGE},
        ID_ERRORS,
        RANGE + "sbb.merge_company: request.form.get('target_id', type=int) -> db.session.get.",
    ),
]


@pytest.mark.parametrize(("endpoint", "changes", "active"), BUGS)
def test_fixed_bug(arena, found, endpoint, changes, active):
    """Valid data but one hostile field that once gave a 500: now an ordinary answer."""
    data = {**arena.valid[endpoint], **changes}
    states = offered_states(found, endpoint)

    read = post_and_read(arena, endpoint, states[0] if states else None, data)

    assert read.problems == []


def test_a_huge_inbox_number_filter_is_ignored_not_a_500(arena):
    query = {"number": "1" * 60_000}

    response = arena.browser(HANDLER_A).get("/behandelen/", query_string=query)

    assert response.status_code == 200
