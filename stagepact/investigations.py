"""SBB's work: investigations of learning companies, decisions and recognition.

An investigation starts from a school's escalation (with a copy of what the
school shared) or from a signal (reports from several institutions naming the
same company). It goes received -> investigating -> decided -> closed, with an
objection step after a measure. This module is the only code that writes an
investigation's status or a company's recognition; every step is one audit
event, which for an escalation also lands in the school's case timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from . import audit, notify, workflow
from .claims import claim
from .deadlines import add_months, add_working_days, local_date
from .deadlines import today as local_today
from .extensions import db
from .models import Company, Investigation, InvestigationMessage, RecognitionChange, User, utcnow
from .vocab import (
    DECISION_LABELS,
    DECISION_RECOGNITION,
    MEASURES,
    Decision,
    InvestigationOrigin,
    InvestigationStatus,
    Recognition,
    Role,
    Status,
)

WorkflowError = workflow.WorkflowError
IS = InvestigationStatus


@dataclass(frozen=True)
class Step:
    sources: frozenset[InvestigationStatus]
    target: InvestigationStatus
    label: object
    event: str  # the audit action it records (audit.ACTIONS)


STEPS: dict[str, Step] = {
    "start": Step(
        frozenset({IS.RECEIVED}),
        IS.INVESTIGATING,
        _l("Onderzoek starten"),
        "investigation.started",
    ),
    "decide": Step(
        frozenset({IS.INVESTIGATING}),
        IS.DECIDED,
        _l("Besluit vastleggen"),
        "investigation.decided",
    ),
    "object": Step(
        frozenset({IS.DECIDED}),
        IS.OBJECTION,
        _l("Bezwaar vastleggen"),
        "investigation.objection_recorded",
    ),
    "resolve_objection": Step(
        frozenset({IS.OBJECTION}),
        IS.DECIDED,
        _l("Op bezwaar beslissen"),
        "investigation.objection_resolved",
    ),
    "close": Step(
        frozenset({IS.DECIDED}),
        IS.CLOSED,
        _l("Onderzoek afsluiten"),
        "investigation.closed",
    ),
}

# Recognition a new investigation puts "under investigation"; a company already
# suspended or revoked keeps that status while SBB looks again.
INVESTIGABLE = (Recognition.RECOGNISED, Recognition.UNDER_CONDITIONS)


def _is_reviewer(user: User) -> bool:
    return isinstance(user, User) and user.role == Role.SBB_REVIEWER and user.active


def can(name: str, investigation: Investigation, user: User) -> bool:
    if name == "message":
        return investigation.origin == InvestigationOrigin.ESCALATION and (
            _is_reviewer(user)
            or (
                user.role == Role.HANDLER
                and user.active
                and user.institution_id == investigation.institution_id
            )
        )
    step = STEPS.get(name)
    if step is None or investigation.status not in step.sources or not _is_reviewer(user):
        return False
    if name == "object":
        # A company objects to a measure, once.
        return investigation.decision in MEASURES and investigation.objection_at is None
    return True


def allowed_steps(investigation: Investigation, user: User) -> list[str]:
    return [name for name in [*STEPS, "message"] if can(name, investigation, user)]


def _require(name: str, investigation: Investigation, user: User) -> None:
    if not can(name, investigation, user):
        raise WorkflowError(_l("Deze stap kan nu niet bij dit onderzoek."))


def _record(action: str, investigation: Investigation, user: User | str, **details) -> None:
    audit.record(
        action,
        case=investigation.case,
        actor=user,
        investigation_id=investigation.id,
        company_id=investigation.company_id,
        **details,
    )


def _step(investigation: Investigation, name: str, user: User, **details) -> None:
    """The one place where an investigation's status changes."""
    _require(name, investigation, user)
    previous = investigation.status
    investigation.status = STEPS[name].target
    _record(
        STEPS[name].event,
        investigation,
        user,
        from_status=str(previous),
        to_status=str(investigation.status),
        **details,
    )


def set_recognition(
    company: Company,
    to_status: Recognition,
    user: User | str,
    cause: str,
    reason: str,
    investigation: Investigation | None = None,
    until: date | None = None,
) -> RecognitionChange:
    """Change a company's recognition and write its history; the only writer of it.
    `user` is "system" for what the scheduled job does on a date SBB set."""
    change = RecognitionChange(
        company=company,
        investigation_id=investigation.id if investigation else None,
        from_status=company.recognition_status,
        to_status=to_status,
        cause=cause,
        reason=reason,
        until=until,
        changed_by_id=user.id if isinstance(user, User) else None,
    )
    company.recognition_status = to_status
    db.session.add(change)
    db.session.flush()
    audit.record(
        "company.recognition_changed",
        actor=user,
        company_id=company.id,
        investigation_id=change.investigation_id,
        from_status=str(change.from_status),
        to_status=str(to_status),
        cause=cause,
    )
    return change


def _other_running(investigation: Investigation) -> list[Investigation]:
    """The company's other investigations that SBB is investigating now."""
    return db.session.scalars(
        sa.select(Investigation).where(
            Investigation.company_id == investigation.company_id,
            Investigation.id != investigation.id,
            Investigation.status == IS.INVESTIGATING,
        )
    ).all()


def _recognition_outside_investigations(investigation: Investigation) -> Recognition:
    """The company's recognition apart from any investigation running now."""
    status = investigation.company.recognition_status
    if status != Recognition.UNDER_INVESTIGATION:
        return status
    running = _other_running(investigation)
    return next(
        (i.recognition_before for i in running if i.recognition_before is not None),
        Recognition.RECOGNISED,
    )


def _baseline(investigation: Investigation) -> Recognition:
    """Where the recognition goes when this investigation ends without a measure."""
    if _other_running(investigation):
        return Recognition.UNDER_INVESTIGATION
    return investigation.recognition_before or Recognition.RECOGNISED


def _text(value: str | None) -> str:
    return (value or "").strip()


@sa.event.listens_for(Session, "before_flush")
def _start_deadline(session, flush_context, instances) -> None:
    """A new investigation, escalated or opened from a signal, is to be started within
    SBB_START_WORKING_DAYS working days."""
    for obj in session.new:
        if isinstance(obj, Investigation) and obj.start_due_on is None:
            received = local_date(obj.created_at or utcnow())
            obj.start_due_on = add_working_days(
                received, current_app.config["SBB_START_WORKING_DAYS"]
            )


# --- Opening -----------------------------------------------------------------------


def open_from_signal(company: Company, user: User, reason: str) -> Investigation:
    """SBB opens its own investigation of a company that reports from several schools name."""
    if not _is_reviewer(user):
        raise WorkflowError(_l("Deze stap kan nu niet bij dit onderzoek."))
    reason = _text(reason)
    if not reason:
        raise WorkflowError(_l("Schrijf waarom SBB dit bedrijf onderzoekt."), "reason")
    investigation = Investigation(
        company=company,
        origin=InvestigationOrigin.SIGNAL,
        status=IS.RECEIVED,
        created_by_id=user.id,
        summary=reason,
    )
    db.session.add(investigation)
    db.session.flush()
    _record("investigation.opened_from_signal", investigation, user)
    return investigation


# --- Steps -----------------------------------------------------------------------------


def start(investigation: Investigation, user: User) -> None:
    _require("start", investigation, user)
    company = investigation.company
    investigation.started_at = utcnow()
    investigation.decide_due_on = add_months(
        local_date(investigation.started_at), current_app.config["SBB_DECIDE_MONTHS"]
    )
    investigation.deadline_reminded_at = None
    investigation.overdue_reminded_on = None
    investigation.recognition_before = _recognition_outside_investigations(investigation)
    _step(investigation, "start", user)
    if company.recognition_status in INVESTIGABLE:
        set_recognition(
            company,
            Recognition.UNDER_INVESTIGATION,
            user,
            "investigation_started",
            str(_l("SBB onderzoekt meldingen over dit leerbedrijf.")),
            investigation,
        )
    notify.handlers_of_sbb_news(investigation, _l("onderzoek gestart"))


def decide(
    investigation: Investigation,
    user: User,
    decision: Decision | str,
    reasoning: str,
    conditions: str | None = None,
    conditions_due_on: date | None = None,
    suspended_until: date | None = None,
) -> None:
    """Record SBB's decision; a measure changes the company's recognition."""
    _require("decide", investigation, user)
    decision = Decision(decision)
    reasoning, conditions = _text(reasoning), _text(conditions)
    today = local_today()
    if not reasoning:
        raise WorkflowError(_l("Schrijf de onderbouwing van het besluit."), "reasoning")
    if decision == Decision.IMPROVEMENT:
        if not conditions:
            raise WorkflowError(
                _l("Schrijf de voorwaarden van de verbeterafspraken."), "conditions"
            )
        if conditions_due_on is None or conditions_due_on <= today:
            raise WorkflowError(
                _l("Geef een datum in de toekomst waarop aan de voorwaarden voldaan moet zijn."),
                "conditions_due_on",
            )
    if decision == Decision.SUSPENSION and (suspended_until is None or suspended_until <= today):
        raise WorkflowError(
            _l("Geef een datum in de toekomst tot wanneer de schorsing geldt."), "suspended_until"
        )
    investigation.decision = decision
    investigation.decision_reasoning = reasoning
    investigation.conditions = conditions or None if decision == Decision.IMPROVEMENT else None
    investigation.conditions_due_on = (
        conditions_due_on if decision == Decision.IMPROVEMENT else None
    )
    investigation.suspended_until = suspended_until if decision == Decision.SUSPENSION else None
    investigation.decided_at = utcnow()
    investigation.decided_by_id = user.id
    _step(investigation, "decide", user, decision=str(decision))

    company = investigation.company
    target = DECISION_RECOGNITION[decision]
    if target is None:
        # No measure: the company leaves "under investigation" (unless another
        # investigation still runs); a measure of another investigation stays.
        target = (
            _baseline(investigation)
            if company.recognition_status == Recognition.UNDER_INVESTIGATION
            else company.recognition_status
        )
    if target != company.recognition_status or decision in MEASURES:
        set_recognition(
            company,
            target,
            user,
            f"decision_{decision}",
            reasoning,
            investigation,
            until=investigation.suspended_until or investigation.conditions_due_on,
        )
    case = investigation.case
    if case is not None and case.status == Status.ESCALATED:
        workflow.return_from_escalation(case, user, decision)
    notify.handlers_of_sbb_news(
        investigation, _l("besluit: %(decision)s", decision=DECISION_LABELS[decision])
    )


def record_objection(investigation: Investigation, user: User) -> None:
    """The company objects to the measure; SBB will decide on it."""
    _step(investigation, "object", user)
    investigation.objection_at = utcnow()
    notify.handlers_of_sbb_news(investigation, _l("het bedrijf maakt bezwaar"))


def resolve_objection(
    investigation: Investigation, user: User, upheld: bool, reasoning: str
) -> None:
    """Upheld restores the recognition the company had before the investigation."""
    _require("resolve_objection", investigation, user)
    reasoning = _text(reasoning)
    if not reasoning:
        raise WorkflowError(
            _l("Schrijf de onderbouwing van de beslissing op het bezwaar."), "reasoning"
        )
    investigation.objection_upheld = upheld
    _step(investigation, "resolve_objection", user, upheld=upheld)
    company = investigation.company
    if upheld and company.recognition_status == DECISION_RECOGNITION[investigation.decision]:
        # The measure is undone, unless a later decision has replaced it since.
        set_recognition(
            company, _baseline(investigation), user, "objection_upheld", reasoning, investigation
        )
    notify.handlers_of_sbb_news(
        investigation,
        _l("bezwaar gegrond, maatregel teruggedraaid") if upheld else _l("bezwaar ongegrond"),
    )


def close(investigation: Investigation, user: User) -> None:
    _require("close", investigation, user)
    investigation.closed_at = utcnow()
    _step(investigation, "close", user)


def send_message(investigation: Investigation, user: User, body: str) -> InvestigationMessage:
    """SBB writes to the escalating institution, or a handler of it to SBB."""
    _require("message", investigation, user)
    body = _text(body)
    if not body:
        raise WorkflowError(_l("Schrijf een bericht."), "body")
    from_sbb = user.role == Role.SBB_REVIEWER
    message = InvestigationMessage(
        investigation=investigation, author_id=user.id, from_sbb=from_sbb, body=body
    )
    db.session.add(message)
    db.session.flush()
    _record(
        "investigation.message_sent",
        investigation,
        user,
        message_id=message.id,
        from_sbb=from_sbb,
    )
    if from_sbb:
        notify.handlers_of_sbb_news(investigation, _l("nieuw bericht van SBB"))
    else:
        notify.sbb_of_institution_message(investigation)
    return message


# --- Dates SBB set, acted on by the scheduled job `sbb-dates` -------------------------------


def end_suspensions(today: date) -> int:
    """A suspension holds up to and including its last day; the day after, the company's
    recognition returns to what it was before the investigation (unless a later decision
    replaced the suspension since). Each investigation is marked in the UPDATE that
    chooses it, so two runs never act twice. Returns how many suspensions ended."""
    due = sa.and_(
        Investigation.decision == Decision.SUSPENSION,
        Investigation.suspended_until < today,
        Investigation.suspension_ended_at.is_(None),
    )
    claimed = claim(Investigation, due, suspension_ended_at=utcnow())
    for investigation in claimed:
        company = investigation.company
        latest = db.session.scalar(
            sa.select(RecognitionChange)
            .where(RecognitionChange.company_id == company.id)
            .order_by(RecognitionChange.id.desc())
            .limit(1)
        )
        still_ours = latest is not None and latest.investigation_id == investigation.id
        if company.recognition_status == Recognition.SUSPENDED and still_ours:
            set_recognition(
                company,
                _baseline(investigation),
                "system",
                "suspension_ended",
                str(_l("De schorsing is afgelopen op de einddatum.")),
                investigation,
            )
        _record("investigation.suspension_ended", investigation, "system", applied=still_ours)
        notify.handlers_of_sbb_news(investigation, _l("de schorsing is afgelopen"))
    return len(claimed)


def agreements_due(investigation: Investigation, today: date) -> bool:
    """The improvement agreements have fallen due and SBB should check them."""
    return (
        investigation.decision == Decision.IMPROVEMENT
        and investigation.conditions_due_on is not None
        and investigation.conditions_due_on <= today
        and investigation.is_open
    )


def remind_agreements_due(today: date) -> int:
    """SBB's reviewers are reminded once, on the day, that improvement agreements fell
    due; returns how many investigations."""
    due = sa.and_(
        Investigation.decision == Decision.IMPROVEMENT,
        Investigation.conditions_due_on <= today,
        Investigation.status != IS.CLOSED,
        Investigation.conditions_reminded_at.is_(None),
    )
    claimed = claim(Investigation, due, conditions_reminded_at=utcnow())
    for investigation in claimed:
        _record("investigation.agreements_reminded", investigation, "system")
        notify.sbb_of_agreements_due(investigation)
    return len(claimed)
