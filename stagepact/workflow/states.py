"""The state table and its guards: which step a case may take, from which status,
by whom, and what it still waits for. `_move` is the one place where a case's status
changes."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from .. import audit
from ..errors import DomainError
from ..models import (
    Case,
    User,
)
from ..vocab import (
    OPEN_STATUSES,
    Outcome,
    Role,
    Status,
)

REPORTER = "reporter"
SBB = "sbb"  # transitions SBB's decisions cause


class WorkflowError(DomainError):
    """An action the workflow refuses; `message` is fit to show, `field` names the input."""


@dataclass(frozen=True)
class Transition:
    name: str
    sources: frozenset[Status]
    target: Status
    by: str  # "handler", REPORTER or SBB
    label: object
    event: str  # the audit action it records (audit.ACTIONS)


def _t(name, sources, target, label, event, by="handler") -> tuple[str, Transition]:
    return name, Transition(name, frozenset(sources), target, by, label, event)


S = Status
TRANSITIONS: dict[str, Transition] = dict(
    [
        _t("acknowledge", [S.NEW], S.TRIAGE, _l("Ontvangst bevestigen"), "case.acknowledged"),
        _t(
            "start_follow_up",
            [S.TRIAGE],
            S.FOLLOW_UP,
            _l("Opvolging starten"),
            "case.follow_up_started",
        ),
        _t(
            "refer",
            [S.TRIAGE, S.FOLLOW_UP],
            S.REFERRED,
            _l("Doorverwijzen naar ADV"),
            "case.referred",
        ),
        _t(
            "return_from_referral",
            [S.REFERRED],
            S.FOLLOW_UP,
            _l("Terug van ADV"),
            "case.returned_from_referral",
        ),
        _t(
            "escalate",
            [S.TRIAGE, S.FOLLOW_UP],
            S.ESCALATED,
            _l("Doorzetten naar SBB"),
            "case.escalated",
        ),
        _t(
            "return_from_escalation",
            [S.ESCALATED],
            S.FOLLOW_UP,
            _l("Terug van SBB"),
            "case.returned_from_escalation",
            by=SBB,
        ),
        # While SBB investigates, the school waits for its decision before closing.
        _t(
            "close",
            [s for s in OPEN_STATUSES if s != S.ESCALATED],
            S.CLOSED,
            _l("Afsluiten"),
            "case.closed",
        ),
        _t("reopen", [S.CLOSED], S.FOLLOW_UP, _l("Heropenen"), "case.reopened"),
        _t(
            "withdraw",
            OPEN_STATUSES,
            S.CLOSED,
            _l("Melding intrekken"),
            "case.withdrawn",
            by=REPORTER,
        ),
    ]
)

# Actions that leave the status alone but still depend on it, and who takes them.
HANDLER, BOTH = "handler", "both"  # BOTH: the case's handler, or the student with the code
CASE_ACTIONS: dict[str, frozenset[Status]] = {
    "assign": frozenset(OPEN_STATUSES),
    "message": frozenset(OPEN_STATUSES),
    "note": frozenset(Status),
    "link_company": frozenset(OPEN_STATUSES),
    "consent": frozenset(OPEN_STATUSES),
    "adv_answer": frozenset({Status.REFERRED}),
    # The student asks, with the code, for their personal data to be erased.
    "request_erasure": frozenset(Status),
    # The student gives or changes the address for "there is news" notices.
    "notice_email": frozenset(Status),
    # The handler erases them, once the case is closed (see `missing_for`).
    "erase": frozenset({Status.CLOSED}),
}
CASE_ACTION_BY: dict[str, str] = {
    "message": BOTH,
    "request_erasure": REPORTER,
    "notice_email": REPORTER,
}

# Until the school has followed a report up, it can only be closed as not the
# meldpunt's business or as a duplicate; the student can always withdraw.
EARLY_CLOSE_OUTCOMES = (Outcome.OUT_OF_SCOPE, Outcome.DUPLICATE)
HANDLER_CLOSE_OUTCOMES = tuple(o for o in Outcome if o != Outcome.WITHDRAWN)

# Transitions that follow from an answer or a decision, never from a button of their own.
CONSEQUENTIAL = frozenset({"return_from_referral", "return_from_escalation"})


def _is_case_handler(case: Case, user: User | None) -> bool:
    return (
        user is not None
        and getattr(user, "is_authenticated", False)
        and user.role == Role.HANDLER
        and user.active
        and user.institution_id == case.institution_id
    )


def _is_sbb_reviewer(actor: User | str) -> bool:
    return (
        isinstance(actor, User)
        and actor.role == Role.SBB_REVIEWER
        and actor.active
        and getattr(actor, "is_authenticated", False)
    )


def missing_for(name: str, case: Case) -> list:
    """What `name` waits for beyond the source state, in words: the student's consent, a
    named company, the student's wish to have their data erased. Empty when nothing is
    missing. The same list hides the button, refuses the action and explains why."""
    missing = []
    if name == "refer" and not case.consent_adv:
        missing.append(_l("De student heeft (nog) geen toestemming gegeven voor het ADV."))
    if name == "escalate":
        if not case.consent_sbb:
            missing.append(_l("De student heeft (nog) geen toestemming gegeven voor SBB."))
        if case.company_id is None:
            missing.append(_l("Koppel eerst het leerbedrijf uit het register."))
    if name == "request_erasure" and case.erasure_requested_at is not None:
        missing.append(_l("De student heeft al gevraagd de gegevens te wissen."))
    if name == "erase" and not (
        case.erasure_requested_at is not None or case.outcome == Outcome.WITHDRAWN
    ):
        missing.append(_l("De student heeft niet gevraagd de gegevens te wissen."))
    return missing


def can(name: str, case: Case, actor: User | str) -> bool:
    if case.personal_data_erased_at is not None:
        # Nothing more happens to an erased case: no step could be taken without
        # writing new personal data into it.
        return False
    if name in TRANSITIONS:
        transition = TRANSITIONS[name]
        if case.status not in transition.sources or missing_for(name, case):
            return False
        if transition.by == REPORTER:
            return actor == REPORTER
        if transition.by == SBB:
            return _is_sbb_reviewer(actor)
        return _is_case_handler(case, actor)
    if name in CASE_ACTIONS:
        if case.status not in CASE_ACTIONS[name] or missing_for(name, case):
            return False
        by = CASE_ACTION_BY.get(name, HANDLER)
        if actor == REPORTER:
            return by in (REPORTER, BOTH)
        return by in (HANDLER, BOTH) and _is_case_handler(case, actor)
    return False


def allowed_actions(case: Case, user: User) -> list[str]:
    """What `user` may do with `case` now, in a stable order."""
    names = [*TRANSITIONS, *CASE_ACTIONS]
    return [n for n in names if n not in CONSEQUENTIAL and can(n, case, user)]


def close_outcomes(case: Case) -> tuple[Outcome, ...]:
    if case.status in (Status.FOLLOW_UP, Status.REFERRED):
        return HANDLER_CLOSE_OUTCOMES
    return EARLY_CLOSE_OUTCOMES


def _require(name: str, case: Case, actor: User | str) -> None:
    if not can(name, case, actor):
        raise WorkflowError(_l("Deze stap kan nu niet bij deze melding."))


def _move(case: Case, name: str, actor: User | str, **details) -> None:
    """The one place where a case's status changes."""
    _require(name, case, actor)
    transition = TRANSITIONS[name]
    previous = case.status
    case.status = transition.target
    audit.record(
        transition.event,
        case=case,
        actor=actor,
        from_status=str(previous),
        to_status=str(transition.target),
        **details,
    )


def _clean_text(text: str | None) -> str:
    return (text or "").strip()


def _required_text(text: str | None, message, field: str) -> str:
    """`text` without its outer spaces; refused with `message` beside `field` when empty."""
    text = _clean_text(text)
    if not text:
        raise WorkflowError(message, field)
    return text
