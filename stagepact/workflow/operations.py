"""Opening a case, its transitions of the handler's and the student's own, the actions
that keep its status (assigning, linking the company, messages, notes) and erasure."""

from __future__ import annotations

import secrets

from flask_babel import lazy_gettext as _l

from .. import audit, follow_up_sessions, metrics, notify, retention, scoping
from ..deadlines import acknowledgement_due, feedback_due
from ..extensions import db
from ..models import (
    Case,
    Company,
    Message,
    User,
    utcnow,
)
from ..vocab import (
    InvestigationStatus,
    Outcome,
    Role,
    Status,
)
from .states import (
    REPORTER,
    WorkflowError,
    _clean_text,
    _move,
    _require,
    _required_text,
    close_outcomes,
)

# --- Opening a case -------------------------------------------------------------


def open_case(case: Case, actor: User | str) -> None:
    """A new report: number it, set its first deadline, tell the handlers."""
    now = utcnow()
    institution = case.institution
    case.status = Status.NEW
    case.submitted_at = now
    case.number = new_case_number(institution.id, now.year)
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
    metrics.count_report(str(case.channel))


# Letters and digits a handler can read out on the phone: no 0/O, no 1/I/L.
NUMBER_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
NUMBER_LENGTH = 6


def new_case_number(institution_id: int, year: int) -> str:
    """A fresh case number of an institution ("2026-K7QX4M").

    The part after the year is random, so that a number tells nobody (a student,
    SBB, an ADV) how many reports the school had before it. Nor does opening a
    case lock the institution's row, as a counter would. 31^6 numbers a year per
    institution make a clash rare; the unique (institution, number) backs the check.
    """
    while True:
        tail = "".join(secrets.choice(NUMBER_ALPHABET) for _ in range(NUMBER_LENGTH))
        number = f"{year}-{tail}"
        if not scoping.case_number_taken(institution_id, number):
            return number


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
    message = _required_text(
        message, _l("Schrijf een afsluitend bericht voor de student."), "message"
    )
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
    reason = _required_text(reason, _l("Geef een reden om de melding te heropenen."), "reason")
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
    case.overdue_reminded_on = None
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
    notify.handlers_of_student_activity(case, _l("melding ingetrokken"))
    _tell_sbb_of_withdrawal(case, now)
    # The report is done with: no browser, nor a copy of its cookie, keeps it open.
    follow_up_sessions.end_all(case)


def _tell_sbb_of_withdrawal(case: Case, now) -> None:
    """An investigation SBB still has open hears that the student withdrew. SBB may go on
    with the company's side; the student's name, if SBB had it, goes."""
    for investigation in case.investigations:
        if investigation.status == InvestigationStatus.CLOSED:
            continue
        investigation.case_withdrawn_at = now
        audit.record(
            "investigation.case_withdrawn",
            case=case,
            actor=REPORTER,
            investigation_id=investigation.id,
        )
        notify.sbb_of_case_withdrawal(investigation)
    retention.remove_sbb_identity(case, REPORTER)


# --- Actions that keep the status -------------------------------------------------


def assign(case: Case, user: User, assignee: User | None) -> None:
    _require("assign", case, user)
    if assignee is not None and (
        assignee.institution_id != case.institution_id or assignee.role != Role.HANDLER
    ):
        raise WorkflowError(_l("Kies een behandelaar van deze instelling."), "assignee")
    _relink(
        case, user, "assigned_to_id", assignee.id if assignee else None, "case.assigned", "user"
    )


def link_company(case: Case, user: User, company: Company | None) -> None:
    """Name the learning company from the register (or none); the student's own words stay."""
    _require("link_company", case, user)
    company_id = company.id if company is not None else None
    _relink(case, user, "company_id", company_id, "case.company_linked", "company")


def _relink(case: Case, user: User, column: str, target_id: int | None, event: str, noun: str):
    """Point the case's `column` at `target_id`; the event says from what to what
    (`from_<noun>`, `to_<noun>`)."""
    previous = getattr(case, column)
    setattr(case, column, target_id)
    changed = {f"from_{noun}": previous, f"to_{noun}": target_id}
    audit.record(event, case=case, actor=user, **changed)


def send_message(case: Case, user: User, body: str, is_feedback: bool = False) -> Message:
    """A handler writes to the student; feedback on the follow-up stops the feedback clock."""
    _require("message", case, user)
    body = _required_text(body, _l("Schrijf een bericht."), "body")
    message = _add_message(case, Message.TO_STUDENT, body, user, is_feedback=is_feedback)
    audit.record(
        "case.message_sent", case=case, actor=user, message_id=message.id, is_feedback=is_feedback
    )
    notify.student_of_news(case)
    return message


def add_note(case: Case, user: User, body: str) -> Message:
    _require("note", case, user)
    body = _required_text(body, _l("Schrijf een notitie."), "body")
    note = _add_message(case, Message.NOTE, body, user)
    audit.record("case.note_added", case=case, actor=user, message_id=note.id)
    return note


def set_notice_email(case: Case, address: str) -> None:
    """The student gives (or changes) the address for "there is news" notices."""
    _require("notice_email", case, REPORTER)
    case.notify_email = address.strip()
    audit.record("case.notice_email_set", case=case, actor=REPORTER)


def student_message(case: Case, body: str) -> Message:
    """The student answers or adds information with the receipt code."""
    _require("message", case, REPORTER)
    body = _required_text(body, _l("Schrijf eerst je bericht."), "body")
    message = _add_message(case, Message.FROM_STUDENT, body, None)
    audit.record("case.student_message_added", case=case, actor=REPORTER, message_id=message.id)
    notify.handlers_of_student_activity(case, _l("nieuw bericht"))
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


# --- Erasure of personal data ------------------------------------------------------


def request_erasure(case: Case) -> None:
    """The student asks, with the code, for their personal data to be erased.

    The responsible handlers are told by mail (without content); they erase the
    data once the case is closed (`erase`).
    """
    _require("request_erasure", case, REPORTER)
    case.erasure_requested_at = utcnow()
    audit.record("case.erasure_requested", case=case, actor=REPORTER, status=str(case.status))
    notify.handlers_of_erasure_request(case)
    # Whoever asks for erasure wants nothing left open: every session on the case ends.
    follow_up_sessions.end_all(case)


def erase(case: Case, user: User) -> None:
    """The handler erases the student's personal data of a closed case, because the
    student asked for it or withdrew the report. Statistics keep what they count."""
    _require("erase", case, user)
    # The retention job may be erasing this case right now: lock it and look again.
    db.session.flush()
    db.session.refresh(case, with_for_update=True)
    _require("erase", case, user)
    reason = retention.REQUEST if case.erasure_requested_at else retention.WITHDRAWN
    retention.erase_personal_data(case, user, reason)
