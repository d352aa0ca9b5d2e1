"""The world the route tests walk, and what they check it against: the roles, who may
reach what (written out by hand from DESIGN.md, not derived from the code), a world of
two institutions with cases in every state, valid data for every form, the walk over
the URL map, browsers per role, table snapshots and the checks of one answer.

`test_route_matrix` walks it for every role; `test_hostile_forms` sends hostile input
through it.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from stagepact import accounts, api_tokens, workflow
from stagepact.extensions import db
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
from tests.helpers import HOST, Route, restore_rows, stored_rows, variants, walk_routes

NEW_PASSWORD = "Zeven blauwe fietsen op de Maasbrug!"

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
OPERATOR = "operator"  # /metrics: only the operator's METRICS_TOKEN opens it; all else 404


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
    # Settings and the follow-up overview are an institution's own: its admin only.
    "organisation.settings": Access(ADMINS),
    "organisation.follow_up": Access(ADMINS),
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
    # A handler's own absence.
    "auth.set_away": Access(HANDLERS),
    # A monitor's own API tokens.
    "auth.create_api_token": Access({MONITOR}),
    "auth.revoke_api_token": Access({MONITOR}),
    # Choosing the language: anyone.
    "language.choose": Access(EVERYONE, OPEN),
    # Liveness and readiness, for the operator's load balancer: anyone, nothing personal.
    "health.healthz": Access(EVERYONE, OPEN),
    "health.readyz": Access(EVERYONE, OPEN),
    # Metrics, for the operator's Prometheus and its token alone: nobody with a session.
    "health.prometheus_metrics": Access(set(), OPERATOR),
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


class KeptWorld:
    """A world built once per module, kept as its rows (files included) and put back before
    each test: every test starts from the same world, without building it again."""

    def __init__(self, world: World):
        self._rows = stored_rows()
        self._refs = {f.name: _ref(getattr(world, f.name)) for f in dataclasses.fields(world)}

    def restore(self) -> World:
        restore_rows(self._rows)
        return World(**{name: _deref(ref) for name, ref in self._refs.items()})


def _ref(value):
    """A model instance as (class, id), so that it outlives its session."""
    if isinstance(value, db.Model):
        return ("row", type(value), value.id)
    if isinstance(value, dict):
        return {key: _ref(item) for key, item in value.items()}
    return value


def _deref(ref):
    if isinstance(ref, tuple) and len(ref) == 3 and ref[0] == "row":
        return db.session.get(ref[1], ref[2])
    if isinstance(ref, dict):
        return {key: _deref(item) for key, item in ref.items()}
    return ref


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
        "organisation.away": {"away_until": "2099-12-31"},
        "auth.set_away": {"away-away_until": "2099-12-31"},
        "organisation.reset_two_factor": {},
        "organisation.reinvite": {},
        "organisation.settings": {
            "intro_text": "Welkom bij ons meldpunt.",
            "ack_working_days": "4",
            "feedback_months": "2",
            "overdue_repeat_days": "3",
            "overdue_admin_days": "6",
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
    "case_id": lambda values, world: [c.id for c in world.cases.values()],
    "attachment_id": lambda values, world: [_attachment_for(values, world)],
    "investigation_id": lambda values, world: [world.investigation.id],
    "company_id": lambda values, world: [world.added_company.id],
    "adv_id": lambda values, world: [world.adv.id],
    "institution_id": lambda values, world: [world.a.id],
    "user_id": lambda values, world: [world.colleague.id],
    "token_id": lambda values, world: [world.api_token_id],
    "slug": lambda values, world: [world.a.slug],
    "token": lambda values, world: [world.invite_token],
}
# An argument with a fixed set of values (`<any(csv, xlsx, json):kind>`) takes each of them.
# Filled first, because other arguments depend on them.
ARGUMENT_ORDER = ["case_id", "investigation_id"]


def _arguments(world: World) -> dict:
    return {name: functools.partial(fill, world=world) for name, fill in ARGUMENTS.items()}


def fill_arguments(rule, world: World) -> list[dict]:
    """Every combination of the world's values for the rule's arguments."""
    return variants(rule, _arguments(world), ARGUMENT_ORDER)


# POSTs that remove the object their URL names go last, so that the walk's other
# POSTs still find it.
REMOVING = ["sbb.merge_company"]


def walk(app, world: World) -> list[Route]:
    """All GETs first, then all POSTs: a GET changes nothing, so every page is read in the
    world as built, before the POSTs of a role that may act change it."""
    routes = walk_routes(app, _arguments(world), methods=("GET", "POST"), order=ARGUMENT_ORDER)
    gets = [r for r in routes if r.method == "GET"]
    posts = [r for r in routes if r.method == "POST"]
    posts.sort(key=lambda r: REMOVING.index(r.endpoint) + 1 if r.endpoint in REMOVING else 0)
    return gets + posts


# --- Browsers ----------------------------------------------------------------------------


def csrf_token(html: str) -> str:
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
        return csrf_token(self._open("GET", url).get_data(as_text=True)) if self.csrf else None

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
        self, request: Route, data: dict, with_token: bool = False, headers: dict | None = None
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
    if access.refusal == OPERATOR:
        return None if status == 404 else f"{status}, expected 404"
    return f"{status}: an open route refused"  # pragma: no cover - OPEN never refuses


def answer_problem(access: Access, request: Route, response) -> str | None:
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


def first_allowed_role(access: Access) -> str:
    """The role that tries a POST with CSRF on: a visitor where anyone may, else one who may."""
    for role in (ANONYMOUS, STUDENT, HANDLER_A, ADMIN_A, SBB, MONITOR, PLATFORM):
        if role in access.who:
            return role
    raise AssertionError("nobody may post here")  # pragma: no cover
