"""The case workflow: states, the transition table, guards and effects.

This module is the only code that writes `Case.status`. Every operation
checks its guard, changes the case, writes one audit event and queues the
mail it causes, all in the caller's transaction; the view commits once.
`allowed_actions` drives both the buttons a handler sees and the refusal of
anything else.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from . import audit, notify
from .deadlines import acknowledgement_due, feedback_due
from .extensions import db
from .models import Case, Company, Message, User, utcnow
from .vocab import OPEN_STATUSES, Outcome, Role, Status

REPORTER = "reporter"


class WorkflowError(Exception):
    """An action the workflow refuses; `message` is fit to show, `field` names the input."""

    def __init__(self, message, field: str | None = None):
        super().__init__(str(message))
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Transition:
    name: str
    sources: frozenset[Status]
    target: Status
    by: str  # "handler" or REPORTER
    label: object


def _t(name, sources, target, label, by="handler") -> tuple[str, Transition]:
    return name, Transition(name, frozenset(sources), target, by, label)


S = Status
TRANSITIONS: dict[str, Transition] = dict(
    [
        _t("acknowledge", [S.NEW], S.TRIAGE, _l("Ontvangst bevestigen")),
        _t("start_follow_up", [S.TRIAGE], S.FOLLOW_UP, _l("Opvolging starten")),
        _t("refer", [S.TRIAGE, S.FOLLOW_UP], S.REFERRED, _l("Doorverwijzen naar ADV")),
        _t("return_from_referral", [S.REFERRED], S.FOLLOW_UP, _l("Terug van ADV")),
        _t("escalate", [S.TRIAGE, S.FOLLOW_UP], S.ESCALATED, _l("Doorzetten naar SBB")),
        _t("return_from_escalation", [S.ESCALATED], S.FOLLOW_UP, _l("Terug van SBB")),
        _t("close", OPEN_STATUSES, S.CLOSED, _l("Afsluiten")),
        _t("reopen", [S.CLOSED], S.FOLLOW_UP, _l("Heropenen")),
        _t("withdraw", OPEN_STATUSES, S.CLOSED, _l("Melding intrekken"), by=REPORTER),
    ]
)

# Actions that leave the status alone but still depend on it.
CASE_ACTIONS: dict[str, frozenset[Status]] = {
    "assign": frozenset(OPEN_STATUSES),
    "message": frozenset(OPEN_STATUSES),
    "note": frozenset(Status),
    "link_company": frozenset(OPEN_STATUSES),
}

# Until the school has followed a report up, it can only be closed as not the
# meldpunt's business or as a duplicate; the student can always withdraw.
EARLY_CLOSE_OUTCOMES = (Outcome.OUT_OF_SCOPE, Outcome.DUPLICATE)
HANDLER_CLOSE_OUTCOMES = tuple(o for o in Outcome if o != Outcome.WITHDRAWN)

# Transitions whose screens arrive with the ADV and SBB work; the table has them now.
NOT_YET_ON_THE_DESK = frozenset(
    {"refer", "return_from_referral", "escalate", "return_from_escalation"}
)


def _is_case_handler(case: Case, user: User | None) -> bool:
    return (
        user is not None
        and getattr(user, "is_authenticated", False)
        and user.role == Role.HANDLER
        and user.active
        and user.institution_id == case.institution_id
    )


def _guard(name: str, case: Case) -> bool:
    """Conditions beyond the source state."""
    if name == "refer":
        return case.consent_adv
    if name == "escalate":
        return case.company_id is not None
    return True


def can(name: str, case: Case, actor: User | str) -> bool:
    if name in TRANSITIONS:
        transition = TRANSITIONS[name]
        if case.status not in transition.sources or not _guard(name, case):
            return False
        if transition.by == REPORTER:
            return actor == REPORTER
        return _is_case_handler(case, actor)
    if name in CASE_ACTIONS:
        if case.status not in CASE_ACTIONS[name]:
            return False
        if name == "message" and actor == REPORTER:
            return True
        return _is_case_handler(case, actor)
    return False


def allowed_actions(case: Case, user: User) -> list[str]:
    """What `user` may do with `case` now, in a stable order."""
    names = [*TRANSITIONS, *CASE_ACTIONS]
    return [n for n in names if n not in NOT_YET_ON_THE_DESK and can(n, case, user)]


def close_outcomes(case: Case) -> tuple[Outcome, ...]:
    if case.status == Status.FOLLOW_UP:
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
        f"case.{name}",
        case=case,
        actor=actor,
        from_status=str(previous),
        to_status=str(transition.target),
        **details,
    )


def _clean_text(text: str | None) -> str:
    return (text or "").strip()


# --- Opening a case -------------------------------------------------------------


def open_case(case: Case, actor: User | str) -> None:
    """A new report: number it, set its first deadline, tell the handlers."""
    now = utcnow()
    institution = case.institution
    case.status = Status.NEW
    case.submitted_at = now
    case.number = _next_number(institution.id, now.year)
    case.ack_due_on = acknowledgement_due(now, institution.ack_working_days)
    db.session.add(case)
    db.session.flush()
    audit.record(
        "case.submitted",
        case=case,
        actor=actor,
        channel=str(case.channel),
        anonymous=case.is_anonymous,
    )
    notify.handlers_of_new_case(case)


def _next_number(institution_id: int, year: int) -> str:
    """The next case number of an institution ("2026-0042"), atomic under concurrency."""
    from .models import Institution

    table = Institution.__table__
    counter = db.session.execute(
        sa.update(table)
        .where(table.c.id == institution_id)
        .values(
            case_counter=sa.case(
                (table.c.case_counter_year == year, table.c.case_counter + 1), else_=1
            ),
            case_counter_year=year,
        )
        .returning(table.c.case_counter)
    ).scalar_one()
    return f"{year}-{counter:04d}"


# --- Transitions ---------------------------------------------------------------------


def acknowledge(case: Case, user: User) -> None:
    _require("acknowledge", case, user)  # before anything on the case changes
    now = utcnow()
    case.acknowledged_at = now
    case.feedback_due_on = feedback_due(now, case.institution.feedback_months)
    if case.assigned_to_id is None:
        case.assigned_to_id = user.id
    _move(case, "acknowledge", user)
    notify.student_of_news(case)


def start_follow_up(case: Case, user: User) -> None:
    _move(case, "start_follow_up", user)
    notify.student_of_news(case)


def close(
    case: Case,
    user: User,
    outcome: Outcome | str,
    message: str,
    duplicate_of: Case | None = None,
) -> None:
    _require("close", case, user)
    outcome = Outcome(outcome)
    if outcome not in close_outcomes(case):
        raise WorkflowError(_l("Deze uitkomst past niet bij de stand van de melding."), "outcome")
    message = _clean_text(message)
    if not message:
        raise WorkflowError(_l("Schrijf een afsluitend bericht voor de student."), "message")
    if outcome == Outcome.DUPLICATE:
        if duplicate_of is None or duplicate_of.id == case.id:
            raise WorkflowError(_l("Geef het zaaknummer van de andere melding."), "duplicate_of")
        if duplicate_of.institution_id != case.institution_id:
            raise WorkflowError(_l("Geef het zaaknummer van de andere melding."), "duplicate_of")
        case.duplicate_of_id = duplicate_of.id
    # The message first: every flush must see a consistent case (CHECK constraints).
    closing = _add_message(case, Message.TO_STUDENT, message, user, is_feedback=True)
    now = utcnow()
    case.closed_at = now
    case.outcome = outcome
    _move(case, "close", user, outcome=str(outcome), message_id=closing.id)
    notify.student_of_news(case)


def reopen(case: Case, user: User, reason: str) -> None:
    _require("reopen", case, user)
    reason = _clean_text(reason)
    if not reason:
        raise WorkflowError(_l("Geef een reden om de melding te heropenen."), "reason")
    note = _add_message(case, Message.NOTE, reason, user)
    previous_outcome = str(case.outcome)
    # A reopened case owes the student feedback again, from today. Computed before
    # the closing fields are cleared: loading the institution may flush the case.
    now = utcnow()
    case.feedback_due_on = feedback_due(now, case.institution.feedback_months)
    if case.acknowledged_at is None:
        case.acknowledged_at = now
    case.closed_at = None
    case.outcome = None
    case.duplicate_of_id = None
    case.feedback_at = None
    case.feedback_reminded_at = None
    _move(case, "reopen", user, previous_outcome=previous_outcome, note_id=note.id)
    notify.student_of_news(case)


def withdraw(case: Case, reason: str | None = None) -> None:
    """The student withdraws their report with the receipt code."""
    _require("withdraw", case, REPORTER)
    now = utcnow()
    reason = _clean_text(reason)
    message_id = None
    if reason:
        message_id = _add_message(case, Message.FROM_STUDENT, reason, None).id
    case.closed_at = now
    case.outcome = Outcome.WITHDRAWN
    _move(case, "withdraw", REPORTER, outcome=str(Outcome.WITHDRAWN), message_id=message_id)
    notify.handlers_of_student_activity(case, str(_l("melding ingetrokken")))


# --- Actions that keep the status -------------------------------------------------


def assign(case: Case, user: User, assignee: User | None) -> None:
    _require("assign", case, user)
    if assignee is not None and (
        assignee.institution_id != case.institution_id or assignee.role != Role.HANDLER
    ):
        raise WorkflowError(_l("Kies een behandelaar van deze instelling."), "assignee")
    previous = case.assigned_to_id
    case.assigned_to_id = assignee.id if assignee else None
    audit.record(
        "case.assigned",
        case=case,
        actor=user,
        from_user=previous,
        to_user=case.assigned_to_id,
    )


def link_company(case: Case, user: User, company: Company | None) -> None:
    """Name the learning company from the register (or none); the student's own words stay."""
    _require("link_company", case, user)
    previous = case.company_id
    case.company_id = company.id if company is not None else None
    audit.record(
        "case.company_linked",
        case=case,
        actor=user,
        from_company=previous,
        to_company=case.company_id,
    )


def send_message(case: Case, user: User, body: str, is_feedback: bool = False) -> Message:
    """A handler writes to the student; feedback on the follow-up stops the feedback clock."""
    _require("message", case, user)
    body = _clean_text(body)
    if not body:
        raise WorkflowError(_l("Schrijf een bericht."), "body")
    message = _add_message(case, Message.TO_STUDENT, body, user, is_feedback=is_feedback)
    audit.record(
        "case.message_sent", case=case, actor=user, message_id=message.id, is_feedback=is_feedback
    )
    notify.student_of_news(case)
    return message


def add_note(case: Case, user: User, body: str) -> Message:
    _require("note", case, user)
    body = _clean_text(body)
    if not body:
        raise WorkflowError(_l("Schrijf een notitie."), "body")
    note = _add_message(case, Message.NOTE, body, user)
    audit.record("case.note_added", case=case, actor=user, message_id=note.id)
    return note


def student_message(case: Case, body: str) -> Message:
    """The student answers or adds information with the receipt code."""
    _require("message", case, REPORTER)
    body = _clean_text(body)
    if not body:
        raise WorkflowError(_l("Schrijf eerst je bericht."), "body")
    message = _add_message(case, Message.FROM_STUDENT, body, None)
    audit.record("case.student_message", case=case, actor=REPORTER, message_id=message.id)
    notify.handlers_of_student_activity(case, str(_l("nieuw bericht")))
    return message


def _add_message(
    case: Case, kind: str, body: str, author: User | None, is_feedback: bool = False
) -> Message:
    message = Message(case=case, kind=kind, body=body, author=author, is_feedback=is_feedback)
    db.session.add(message)
    if is_feedback and kind == Message.TO_STUDENT and case.feedback_at is None:
        case.feedback_at = utcnow()
    db.session.flush()
    return message
