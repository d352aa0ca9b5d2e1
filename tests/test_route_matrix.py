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

import itertools
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from stagepact import accounts, api_tokens, workflow
from stagepact.extensions import db
from stagepact.models import Case
from stagepact.vocab import AdvAnswer, Decision, Outcome, Role
from tests.factories import (
    PASSWORD,
    make_adv,
    make_attachment,
    make_case,
    make_company,
    make_institution,
    make_user,
)

NEW_PASSWORD = "Zeven blauwe fietsen op de Maasbrug!"
HOST = "meldpunt.test"

# --- The roles -------------------------------------------------------------------------

ANONYMOUS = "anonymous"  # a browser without a staff session or a receipt code
STUDENT = "student"  # a browser that opened A's case with its receipt code
HANDLER_A = "handler_a"  # a handler of institution A, whose case, files and staff the URLs name
HANDLER_B = "handler_b"  # a handler of institution B
ADMIN_A = "admin_a"  # institution admins
ADMIN_B = "admin_b"
SBB = "sbb_reviewer"
MONITOR = "monitor"
PLATFORM = "platform_admin"

ROLES = [ANONYMOUS, STUDENT, HANDLER_A, HANDLER_B, ADMIN_A, ADMIN_B, SBB, MONITOR, PLATFORM]
STAFF = frozenset({HANDLER_A, HANDLER_B, ADMIN_A, ADMIN_B, SBB, MONITOR, PLATFORM})
EVERYONE = frozenset(ROLES)
HANDLERS = frozenset({HANDLER_A, HANDLER_B})
ADMINS = frozenset({ADMIN_A, ADMIN_B})

# --- Who may reach what ----------------------------------------------------------------

# How a request from a role that may not make it is refused.
OPEN = "open"  # nobody is refused
LOGIN = "login"  # staff pages: a visitor is sent to log in, any other role finds nothing (404)
CODE = "code"  # the student's case pages: without the code's session, back to the code page
CODE_AGAIN = "code again"  # a message typed after the code session ended: 401, kept, code asked
TOKEN = "token"  # the API: only an API token opens it; a session cookie gets 401


@dataclass(frozen=True)
class Access:
    who: frozenset
    refusal: str

    def __init__(self, who, refusal: str = LOGIN):
        object.__setattr__(self, "who", frozenset(who))
        object.__setattr__(self, "refusal", refusal)


# A blueprint's rule holds for each of its endpoints not listed in ENDPOINT_ACCESS,
# so that a new route there is held to it without a change here. The URLs name
# institution A's case, file, investigation and staff member.
BLUEPRINT_ACCESS = {
    # Only the handlers of the case's own institution.
    "desk": Access({HANDLER_A}),
    # Only SBB reviewers.
    "sbb": Access({SBB}),
    # Only platform admins.
    "platform": Access({PLATFORM}),
    # A's staff member: A's institution admin and the platform admin.
    "organisation": Access({ADMIN_A, PLATFORM}),
    # Monitors, and an institution's handlers and admins for their own meldpunt.
    "stats": Access({MONITOR, *HANDLERS, *ADMINS}),
    # Only an API token (a monitor's), never a session cookie.
    "api": Access(set(), TOKEN),
}
# Endpoints whose rule differs from their blueprint's, and the blueprints without a
# rule of their own (auth, student: every endpoint is listed).
ENDPOINT_ACCESS = {
    # The desk's pages that name no case: every handler, for their own institution.
    "desk.inbox": Access(HANDLERS),
    "desk.new_report": Access(HANDLERS),
    # Pages that name no staff member: every admin, for their own institution.
    "organisation.staff": Access({*ADMINS, PLATFORM}),
    "organisation.invite": Access({*ADMINS, PLATFORM}),
    "organisation.log": Access({*ADMINS, PLATFORM}),
    # Settings are an institution's own: its admin only.
    "organisation.settings": Access(ADMINS),
    # Exports are for monitors only.
    "stats.export": Access({MONITOR}),
    # The API's description is public; its data are not.
    "api.openapi": Access(EVERYONE, OPEN),
    # Logging in, passwords and links: open to anyone.
    "auth.login": Access(EVERYONE, OPEN),
    "auth.second_factor": Access(EVERYONE, OPEN),
    "auth.enrol": Access(EVERYONE, OPEN),
    "auth.forgot_password": Access(EVERYONE, OPEN),
    "auth.set_password": Access(EVERYONE, OPEN),
    # A staff member's own account.
    "auth.logout": Access(STAFF),
    "auth.account": Access(STAFF),
    "auth.change_password": Access(STAFF),
    # A monitor's own API tokens.
    "auth.create_api_token": Access({MONITOR}),
    "auth.revoke_api_token": Access({MONITOR}),
    # Choosing the language: anyone.
    "language.choose": Access(EVERYONE, OPEN),
    # The student's public pages.
    "student.start": Access(EVERYONE, OPEN),
    "student.accessibility": Access(EVERYONE, OPEN),
    "student.meldpunt": Access(EVERYONE, OPEN),
    "student.house_style": Access(EVERYONE, OPEN),
    "student.report": Access(EVERYONE, OPEN),
    "student.follow_up": Access(EVERYONE, OPEN),
    "student.stop": Access(EVERYONE, OPEN),
    # The student's case, through the receipt code's session only.
    "student.case": Access({STUDENT}, CODE),
    "student.download": Access({STUDENT}, CODE),
    "student.export_data": Access({STUDENT}, CODE),
    "student.notice_email": Access({STUDENT}, CODE),
    "student.withdraw": Access({STUDENT}, CODE),
    "student.request_erasure": Access({STUDENT}, CODE),
    "student.send_message": Access({STUDENT}, CODE_AGAIN),
}

# The student's forms are exempt from the app-wide CSRF check and check the token
# themselves, so that an expired token shows the form again with everything typed.
OWN_TOKEN_FORMS = {
    "student.report",
    "student.follow_up",
    "student.send_message",
    "student.notice_email",
    "student.withdraw",
    "student.request_erasure",
}


def access_for(endpoint: str) -> Access:
    if endpoint in ENDPOINT_ACCESS:
        return ENDPOINT_ACCESS[endpoint]
    blueprint = endpoint.split(".")[0]
    assert blueprint in BLUEPRINT_ACCESS, (
        f"write down who may reach {endpoint}: add it to ENDPOINT_ACCESS "
        f"(or give the blueprint {blueprint!r} a rule in BLUEPRINT_ACCESS)"
    )
    return BLUEPRINT_ACCESS[blueprint]


# --- The world -------------------------------------------------------------------------

CASE_STATES = ["new", "triage", "follow_up", "referred", "escalated", "closed"]
_worlds = itertools.count(1)


@dataclass
class World:
    a: object
    b: object
    adv: object
    users: dict  # role -> User
    colleague: object  # A's invited handler, the staff member the organisation URLs name
    invite_token: str
    company: object  # verified, in the register
    added_company: object  # added by a meldpunt, unverified: the company the SBB URLs name
    cases: dict  # state -> A's case
    codes: dict  # state -> the receipt code of A's case in that state
    files: dict  # case id -> the id of a file of that case
    investigation: object
    shared_file: int  # the escalated case's file shared with SBB
    unshared_file: int  # the escalated case's other file, not shared
    case_b: object
    file_b: int
    api_token: str
    api_token_id: int

    @property
    def student_case(self):
        """The case the student's browser opened with its receipt code."""
        return self.cases["follow_up"]

    @property
    def student_code(self) -> str:
        return self.codes["follow_up"]


NAMED_REPORT = {
    "is_anonymous": False,
    "reporter_name": "Sanne Student",
    "email": "sanne.student@example.org",
    "contact_preference": "email",
    "consent_contact": True,
    "consent_adv": True,
    "consent_sbb": True,
    "consent_sbb_identity": True,
}


def case_in_state(a, handler, adv, company, state: str, files: int = 1):
    """A named case of institution A with all consents and a company, brought to `state`
    by its handler; returns (case, receipt code, [file ids]). An escalated case shares its
    first file with SBB; a closed case waits for its data to be erased."""
    case, code = make_case(a, company_id=company.id, **NAMED_REPORT)
    file_ids = [
        make_attachment(case, f"Bestand {n}.\n".encode(), f"bestand-{n}.txt").id
        for n in range(files)
    ]
    if state != "new":
        workflow.acknowledge(case, handler)
    if state in ("follow_up", "closed"):
        workflow.start_follow_up(case, handler)
    if state == "follow_up":
        workflow.send_message(case, handler, "Wanneer was het gesprek?")
        workflow.student_message(case, "Op dinsdag.")
    if state == "referred":
        workflow.refer(case, handler, adv, "Samenvatting voor het ADV.", True)
    if state == "escalated":
        workflow.escalate(case, handler, "Samenvatting voor SBB.", False, file_ids[:1])
    if state == "closed":
        workflow.close(case, handler, Outcome.RESOLVED, "Wij sluiten af.")
        case.erasure_requested_at = case.closed_at
    assert case.status == state
    return case, code, file_ids


def build_world(states=CASE_STATES) -> World:
    """The world the walk fills URLs from; `states` picks A's cases (the student's case is
    the one in follow-up, SBB's investigation the escalated one's)."""
    adv = make_adv(name="Antidiscriminatiebureau Midden")
    a = make_institution(name="ROC Alfa", adv=adv)
    b = make_institution(name="ROC Bravo")
    users = {
        HANDLER_A: make_user(Role.HANDLER, a, name="Anna Alfa", language="nl"),
        HANDLER_B: make_user(Role.HANDLER, b, name="Bert Bravo", language="nl"),
        ADMIN_A: make_user(Role.INSTITUTION_ADMIN, a, name="Aafke Beheer", language="nl"),
        ADMIN_B: make_user(Role.INSTITUTION_ADMIN, b, name="Bram Beheer", language="nl"),
        SBB: make_user(Role.SBB_REVIEWER, name="Sietske SBB", language="nl"),
        MONITOR: make_user(Role.MONITOR, name="Mo Monitor", language="nl"),
        PLATFORM: make_user(Role.PLATFORM_ADMIN, name="Paula Platform", language="nl"),
    }
    colleague, invite_token = accounts.invite(
        email=f"nina.nieuw.{next(_worlds)}@example.org",
        name="Nina Nieuw",
        role=Role.HANDLER,
        institution=a,
        actor=users[ADMIN_A],
    )
    company = make_company(name="Bakkerij De Korst")
    added_company = make_company(name="Garage Onbekend", verified=False)
    cases, codes, files = {}, {}, {}
    for state in states:
        case, codes[state], file_ids = case_in_state(
            a, users[HANDLER_A], adv, company, state, files=2
        )
        cases[state] = case
        files[case.id] = file_ids[0]
    escalated = cases["escalated"]
    case_b, _code_b = make_case(b)
    file_b = make_attachment(case_b).id
    token, plain = api_tokens.create(users[MONITOR], "Dashboard")
    db.session.commit()
    return World(
        a=a,
        b=b,
        adv=adv,
        users=users,
        colleague=colleague,
        invite_token=invite_token,
        company=company,
        added_company=added_company,
        cases=cases,
        codes=codes,
        files=files,
        investigation=escalated.investigations[0],
        shared_file=files[escalated.id],
        unshared_file=[f.id for f in escalated.attachments if f.id != files[escalated.id]][0],
        case_b=case_b,
        file_b=file_b,
        api_token=plain,
        api_token_id=token.id,
    )


# Valid data for every form, so that a POST that wrongly got through would act.
REPORT = {
    "narrative": "Ik mocht niet op gesprek komen omdat ik een hoofddoek draag.",
    "reporter_role": "self",
    "anonymity": "anonymous",
    "contact_preference": "none",
    "grounds": ["religion"],
    "phase": "application",
}
ADV_FORM = {
    "name": "Bureau Gelijke Behandeling",
    "region": "Regio Zuid",
    "email": "info@bureau.example.org",
    "phone": "040 123 4567",
    "website": "https://bureau.example.org",
}


def post_data(world: World) -> dict[str, dict]:
    a = world.a
    return {
        "auth.login": {"email": world.users[HANDLER_A].email, "password": PASSWORD},
        "auth.second_factor": {"code": "123456"},
        "auth.enrol": {"code": "123456"},
        "auth.forgot_password": {"email": world.users[HANDLER_A].email},
        "auth.set_password": {"password": NEW_PASSWORD, "repeat": NEW_PASSWORD},
        "auth.logout": {},
        "auth.change_password": {
            "pw-current": PASSWORD,
            "pw-password": NEW_PASSWORD,
            "pw-repeat": NEW_PASSWORD,
        },
        "auth.create_api_token": {"name": "Nog een dashboard"},
        "auth.revoke_api_token": {},
        "desk.acknowledge": {},
        "desk.start_follow_up": {},
        "desk.close": {"outcome": "out_of_scope", "message": "Wij sluiten af.", "duplicate_of": ""},
        "desk.reopen": {"reason": "Nieuwe informatie."},
        "desk.assign": {"assignee": str(world.users[HANDLER_A].id)},
        "desk.message": {"body": "Kun je langskomen?", "is_feedback": "y"},
        "desk.note": {"note-body": "Bedrijf gebeld."},
        "desk.link_company": {"company_id": str(world.company.id)},
        "desk.erase": {"erase-confirm": "y"},
        "desk.record_consent": {
            "consent-kind": "adv",
            "consent-given": "yes",
            "consent-source": "handler",
        },
        "desk.refer": {"refer-adv_id": str(world.adv.id), "refer-summary": "Voor het ADV."},
        "desk.adv_answer": {"adv-answer": str(AdvAnswer.DECLINED), "adv-note": "Niet opgepakt."},
        "desk.escalate": {"sbb-summary": "Voor SBB, zonder namen."},
        "desk.sbb_message": {"sbbmsg-body": "Hoe staat het onderzoek ervoor?"},
        "desk.new_report": {**REPORT, "channel": "phone"},
        "sbb.start": {},
        "sbb.decide": {"decision": str(Decision.CONVERSATION), "reasoning": "Gesprek gevoerd."},
        "sbb.objection": {},
        "sbb.resolve_objection": {"upheld": "yes", "reasoning": "Het bezwaar is gegrond."},
        "sbb.close": {},
        "sbb.message": {"body": "Wij hebben het bedrijf gesproken."},
        "sbb.open_investigation": {"reason": "Meldingen van twee scholen."},
        "sbb.verify_company": {},
        "sbb.merge_company": {"target_id": str(world.company.id)},
        "platform.adv_new": ADV_FORM,
        "platform.adv_edit": ADV_FORM,
        "platform.institution_adv": {"adv": str(world.adv.id)},
        "organisation.invite": {
            "name": "Olaf Uitgenodigd",
            "email": "olaf@example.org",
            "role": "handler",
            "institution_id": str(a.id),
        },
        "organisation.disable": {},
        "organisation.reset_two_factor": {},
        "organisation.reinvite": {},
        "organisation.settings": {
            "intro_text": "Welkom bij ons meldpunt.",
            "ack_working_days": "4",
            "feedback_months": "2",
            "retention_months": "36",
            "colour": "#0b5d3b",
            "adv_id": str(world.adv.id),
        },
        "student.report": REPORT,
        "student.follow_up": {"code": world.student_code},
        "student.send_message": {"body": "Ik heb nog een mail gevonden."},
        "student.notice_email": {"notify_email": "sanne.nieuws@example.org"},
        "student.withdraw": {"confirm": "y", "reason": "Ik wil niet meer."},
        "student.request_erasure": {"confirm": "y"},
        "student.stop": {},
        "language.choose": {"lang": "en", "next": "/"},
    }


# --- The walk ----------------------------------------------------------------------------


def _attachment_for(values: dict, world: World) -> int:
    """A file of the object the URL names: the case's, the investigation's shared one,
    or (the student's pages, which name no case) the student's own case's."""
    if "case_id" in values:
        return world.files[values["case_id"]]
    if "investigation_id" in values:
        return world.shared_file
    return world.files[world.student_case.id]


# How to fill each argument a rule may have; the walk refuses a rule with any other.
ARGUMENTS = {
    "case_id": lambda world, values: [c.id for c in world.cases.values()],
    "attachment_id": lambda world, values: [_attachment_for(values, world)],
    "investigation_id": lambda world, values: [world.investigation.id],
    "company_id": lambda world, values: [world.added_company.id],
    "adv_id": lambda world, values: [world.adv.id],
    "institution_id": lambda world, values: [world.a.id],
    "user_id": lambda world, values: [world.colleague.id],
    "token_id": lambda world, values: [world.api_token_id],
    "slug": lambda world, values: [world.a.slug],
    "token": lambda world, values: [world.invite_token],
}
# An argument with a fixed set of values (`<any(csv, xlsx, json):kind>`) takes each of them.
# Filled first, because other arguments depend on them.
ARGUMENT_ORDER = ["case_id", "investigation_id"]


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    endpoint: str
    post_only: bool


def _rules(app):
    return sorted(
        (rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"),
        key=lambda rule: (rule.endpoint, rule.rule),
    )


def _choices(rule, name: str):
    return getattr(rule._converters.get(name), "items", None)


def _unknown_arguments(rule) -> set[str]:
    return {name for name in rule.arguments if name not in ARGUMENTS and not _choices(rule, name)}


def fill_arguments(rule, world: World) -> list[dict]:
    """Every combination of values for the rule's arguments."""
    assert not _unknown_arguments(rule), (
        f"teach this test the argument {', '.join(sorted(_unknown_arguments(rule)))} "
        f"of {rule.rule} (add it to ARGUMENTS)"
    )
    names = sorted(rule.arguments, key=lambda n: (n not in ARGUMENT_ORDER, n))
    variants = [{}]
    for name in names:
        fixed = _choices(rule, name)
        expanded = []
        for values in variants:
            choices = sorted(fixed) if fixed else ARGUMENTS[name](world, values)
            assert choices, f"the world has no value for {name} of {rule.rule}"
            expanded += [{**values, name: choice} for choice in choices]
        variants = expanded
    return variants


# POSTs that remove the object their URL names go last, so that the walk's other
# POSTs still find it.
REMOVING = ["sbb.merge_company"]


def walk(app, world: World) -> list[Request]:
    """All GETs first, then all POSTs: a GET changes nothing, so every page is read in the
    world as built, before the POSTs of a role that may act change it."""
    adapter = app.url_map.bind(HOST)
    gets, posts = [], []
    for rule in _rules(app):
        post_only = "POST" in rule.methods and "GET" not in rule.methods
        for values in fill_arguments(rule, world):
            for method, bucket in (("GET", gets), ("POST", posts)):
                if method in rule.methods:
                    url = adapter.build(rule.endpoint, values, method=method)
                    bucket.append(Request(method, url, rule.endpoint, post_only))
    posts.sort(key=lambda r: REMOVING.index(r.endpoint) + 1 if r.endpoint in REMOVING else 0)
    return gets + posts


# --- Browsers ----------------------------------------------------------------------------


def _csrf_token(html: str) -> str:
    tag = re.search(r'<input[^>]*name="csrf_token"[^>]*>', html)
    assert tag, "a form with a CSRF token on the page"
    return re.search(r'value="([^"]+)"', tag.group(0)).group(1)


# What Chromium sends with a form POST from a page of this site served with
# `Referrer-Policy: no-referrer`: an opaque origin, no Referer, and the fetch metadata.
SAME_ORIGIN_POST = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}


class Browser:
    """One role's browser; `reset` gives it a fresh cookie jar and logs in again.

    `base_url` is the site's address as the browser sees it (http, or https as in
    production); `headers` go with every request it makes."""

    def __init__(
        self,
        app,
        world: World,
        role: str,
        csrf: bool = False,
        keep: bool = False,
        base_url: str = f"http://{HOST}",
        headers: dict | None = None,
    ):
        self.app, self.world, self.role, self.csrf = app, world, role, csrf
        self.base_url, self.headers = base_url, headers or {}
        self.token = None
        self.responses = []  # with keep: every (method, url, response), logins too
        self.keep = keep
        self.reset()

    def _open(self, method: str, url: str, data=None, headers: dict | None = None):
        sent = {**self.headers, **(headers or {})} if method == "POST" else {}
        response = self.client.open(
            url, method=method, data=data, base_url=self.base_url, headers=sent
        )
        if self.keep:
            self.responses.append((method, url, response))
        return response

    def _token_from(self, url: str) -> str | None:
        return _csrf_token(self._open("GET", url).get_data(as_text=True)) if self.csrf else None

    def _with_token(self, data: dict, token: str | None) -> dict:
        return {**data, "csrf_token": token} if token else data

    def reset(self) -> None:
        self.client = self.app.test_client()
        if self.role == STUDENT:
            token = self._token_from("/volgen")
            data = self._with_token({"code": self.world.student_code}, token)
            opened = self._open("POST", "/volgen", data)
            assert opened.status_code == 302, "the receipt code opens the student's case"
            self.token = self._token_from("/volgen/melding")
        elif self.role in STAFF:
            user = self.world.users[self.role]
            for password in (PASSWORD, NEW_PASSWORD):  # the walk may have changed it
                token = self._token_from("/inloggen")
                data = self._with_token({"email": user.email, "password": password}, token)
                if self._open("POST", "/inloggen", data).status_code == 302:
                    break
            else:
                pytest.fail(f"{self.role} cannot log in")
            self.token = self._token_from("/account")
        else:
            self.token = self._token_from("/inloggen")

    def send(
        self, request: Request, data: dict, with_token: bool = False, headers: dict | None = None
    ):
        if request.method == "POST":
            return self._open(
                "POST", request.url, self._with_token(data, with_token and self.token), headers
            )
        return self._open("GET", request.url)


# --- What changed ------------------------------------------------------------------------

# The audit trail records every request, the login bookkeeping every login: login_failure
# and follow_up_session get a row for a failed staff login or a browser typing a code.
UNWATCHED_TABLES = {"audit_event", "audit_head", "login_failure", "follow_up_session"}
UNWATCHED_COLUMNS = {
    "user_account": {"last_login_at", "failed_logins", "failure_notice_at"},
    "api_token": {"last_used_at"},
}


def snapshot() -> dict[str, list]:
    """Every row of every table (raw, as stored), but for the audit trail and login bookkeeping.

    The session is rolled back first, as a real server's is at the end of a request:
    what a refused request left uncommitted is not stored.
    """
    db.session.rollback()
    quote = db.engine.dialect.identifier_preparer.quote
    state = {}
    for table in db.metadata.sorted_tables:
        if table.name in UNWATCHED_TABLES:
            continue
        skipped = UNWATCHED_COLUMNS.get(table.name, set())
        columns = ", ".join(quote(c.name) for c in table.columns if c.name not in skipped)
        order = ", ".join(quote(c.name) for c in table.primary_key.columns)
        query = f"SELECT {columns} FROM {quote(table.name)} ORDER BY {order}"  # noqa: S608
        state[table.name] = [tuple(row) for row in db.session.execute(sa.text(query))]
    return state


def changed_tables(before: dict, after: dict) -> list[str]:
    return sorted(name for name in before if before[name] != after[name])


# --- Checking one answer -----------------------------------------------------------------

# POSTs after which a browser is no longer what its role was: it logged out, logged in,
# opened a case (with a code, or by filing a report) or closed it (withdrawing the report
# and asking for erasure close it too), changed its password or its language.
SESSION_CHANGING = {
    "auth.logout",
    "auth.login",
    "auth.change_password",
    "student.follow_up",
    "student.report",
    "student.stop",
    "student.withdraw",
    "student.request_erasure",
    "language.choose",
}

# An allowed request is answered; 409 is a step the case's state does not allow now.
ANSWERED = {200, 302, 303, 400, 409, 422}
REDIRECTS = {302, 303}


def _location(response) -> str:
    return urlsplit(response.headers.get("Location", "")).path


def refusal_problem(access: Access, role: str, response) -> str | None:
    """Why `response` is not the refusal `access` prescribes for `role`, or None."""
    status = response.status_code
    if access.refusal == LOGIN:
        if role in (ANONYMOUS, STUDENT):
            if status in REDIRECTS and _location(response) == "/inloggen":
                return None
            return f"{status} {_location(response)}, expected a redirect to /inloggen"
        return None if status == 404 else f"{status}, expected 404"
    if access.refusal == CODE:
        if status in REDIRECTS and _location(response) == "/volgen":
            return None
        return f"{status} {_location(response)}, expected a redirect to the code page /volgen"
    if access.refusal == CODE_AGAIN:
        asks_code = 'name="code"' in response.get_data(as_text=True)
        return None if status == 401 and asks_code else f"{status}, expected 401 and the code form"
    if access.refusal == TOKEN:
        return None if status == 401 else f"{status}, expected 401"
    return f"{status}: an open route refused"  # pragma: no cover - OPEN never refuses


def answer_problem(access: Access, request: Request, response) -> str | None:
    status = response.status_code
    if status not in ANSWERED:
        return f"{status}, expected an answer ({sorted(ANSWERED)})"
    refused_to = {LOGIN: "/inloggen", CODE: "/volgen"}.get(access.refusal)
    if status in REDIRECTS and refused_to and _location(response) == refused_to:
        if request.endpoint != "auth.logout":  # logging out does end at the login page
            return f"{status} to {refused_to}: sent away as if refused"
    return None


# --- The security headers ----------------------------------------------------------------


# Neither tells another site anything; which one a page sends is tested below.
REFERRER_POLICIES = ("no-referrer", "same-origin")


def header_problems(method: str, url: str, response, static: bool = False) -> list[str]:
    problems = []
    headers = response.headers
    csp = headers.get("Content-Security-Policy", "")
    if not csp:
        problems.append("no Content-Security-Policy")
    if "unsafe-inline" in csp or "unsafe-eval" in csp:
        problems.append(f"CSP allows unsafe code: {csp}")
    if "frame-ancestors 'none'" not in csp:
        problems.append(f"CSP without frame-ancestors 'none': {csp}")
    if response.mimetype == "text/html":
        # A download has its own stricter policy (default-src 'none'; sandbox).
        if "script-src 'self'" not in csp:
            problems.append(f"CSP without script-src 'self': {csp}")
    if headers.get("X-Content-Type-Options") != "nosniff":
        problems.append("no X-Content-Type-Options: nosniff")
    policy = headers.get("Permissions-Policy", "")
    if not all(f"{feature}=()" in policy for feature in ("camera", "microphone", "geolocation")):
        problems.append(f"Permissions-Policy {policy!r} leaves a powerful feature on")
    if headers.get("Referrer-Policy") not in REFERRER_POLICIES:
        problems.append(f"Referrer-Policy {headers.get('Referrer-Policy')!r}")
    if not static and "no-store" not in headers.get("Cache-Control", ""):
        problems.append(f"Cache-Control {headers.get('Cache-Control')!r}, expected no-store")
    for cookie in headers.getlist("Set-Cookie"):
        value = cookie.split(";", 1)[0].partition("=")[2]
        attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
        if not value and "max-age=0" in attributes:
            continue  # a deletion (Flask-Login clears its remember cookie): nothing to steal
        if "httponly" not in attributes or "samesite=lax" not in attributes:
            problems.append(f"cookie without HttpOnly and SameSite=Lax: {cookie[:40]}...")
    return [f"{method} {url} ({response.status_code}): {p}" for p in problems]


# --- The tests -------------------------------------------------------------------------


def test_the_walk_knows_every_argument_and_reaches_every_endpoint(app):
    unknown = {rule.rule: _unknown_arguments(rule) for rule in _rules(app)}
    assert {rule: names for rule, names in unknown.items() if names} == {}, (
        "teach this test these arguments (add them to ARGUMENTS)"
    )
    world = build_world()
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
def test_every_route_for_every_role(app, role):
    """Each role walks every route: allowed ones answer, the others are refused and
    change nothing; no GET changes anything but the audit trail."""
    world = build_world()
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


def test_the_walk_tries_each_state_of_a_case_and_institution_bs_handler_gets_404s(app):
    """The matrix above names A's cases in every state; spelled out for handler B."""
    world = build_world()
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


def test_a_file_is_reached_only_through_its_own_case_or_investigation(app):
    """The URL must name the file's own case: another case's file is a 404, even one's own."""
    world = build_world()
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


def first_allowed_role(access: Access) -> str:
    """The role that tries a POST with CSRF on: a visitor where anyone may, else one who may."""
    for role in (ANONYMOUS, STUDENT, HANDLER_A, ADMIN_A, SBB, MONITOR, PLATFORM):
        if role in access.who:
            return role
    raise AssertionError("nobody may post here")  # pragma: no cover


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
    app, csrf_enabled, transport
):
    world = build_world()
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


def test_a_post_from_another_site_is_refused_even_with_a_valid_token(app, csrf_enabled):
    world = build_world()
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


def test_every_post_only_route_answers_get_with_405_and_the_api_takes_no_post(app):
    world = build_world()
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


def test_the_api_opens_with_its_token_only(app):
    world = build_world()
    monitor = Browser(app, world, MONITOR)
    auth = {"Authorization": f"Bearer {world.api_token}"}
    trend = "/api/v1/statistics?period=trend"  # served whatever the figures cover
    assert monitor.client.get(trend).status_code == 401  # the cookie opens nothing
    assert app.test_client().get(trend, headers=auth).status_code == 200
    wrong = {"Authorization": f"Bearer {world.api_token}x"}
    assert app.test_client().get(trend, headers=wrong).status_code == 401


def test_security_headers_on_error_pages_static_files_and_logins(app):
    """The role walk checks every answer it got; here the answers it does not give."""
    world = build_world()
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


def test_student_pages_send_no_referrer_and_staff_pages_same_origin(app):
    """A student's pages tell nobody, not even this site, where the student came from;
    staff pages let a form posted here carry this site's Origin (web_security.py)."""
    world = build_world()
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
        login["csrf_token"] = _csrf_token(page.get_data(as_text=True))
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


def test_the_world_is_what_the_matrix_assumes(app):
    """If the world drifts, the matrix would silently test less."""
    world = build_world()
    statuses = {state: db.session.get(Case, case.id).status for state, case in world.cases.items()}
    assert statuses == {state: state for state in CASE_STATES}
    assert [a.id for a in world.investigation.attachments] == [world.shared_file]
    assert world.colleague.institution_id == world.a.id
    assert not world.added_company.verified
    assert world.case_b.institution_id == world.b.id
    assert set(world.users) == STAFF
