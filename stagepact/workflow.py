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

from . import audit, follow_up_sessions, notify, retention
from .deadlines import acknowledgement_due, feedback_due
from .errors import DomainError
from .extensions import db
from .models import (
    Adv,
    Case,
    CaseConsent,
    Company,
    Investigation,
    Message,
    Referral,
    User,
    utcnow,
)
from .vocab import (
    OPEN_STATUSES,
    AdvAnswer,
    ConsentKind,
    ConsentSource,
    Decision,
    InvestigationOrigin,
    InvestigationStatus,
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


def set_notice_email(case: Case, address: str) -> None:
    """The student gives (or changes) the address for "there is news" notices."""
    _require("notice_email", case, REPORTER)
    case.notify_email = address.strip()
    audit.record("case.notice_email_set", case=case, actor=REPORTER)


def student_message(case: Case, body: str) -> Message:
    """The student answers or adds information with the receipt code."""
    _require("message", case, REPORTER)
    body = _clean_text(body)
    if not body:
        raise WorkflowError(_l("Schrijf eerst je bericht."), "body")
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


# --- Consent --------------------------------------------------------------------------


def record_initial_consents(case: Case, entered_by: User | None) -> None:
    """The consents ticked in the report, each as its own record."""
    source = ConsentSource.FORM if entered_by is None else ConsentSource.HANDLER
    for kind in ConsentKind:
        if case.consent(kind):
            db.session.add(
                CaseConsent(case=case, kind=kind, given=True, source=source, recorded_by=entered_by)
            )


def record_consent(
    case: Case,
    user: User,
    kind: ConsentKind | str,
    given: bool,
    source: ConsentSource | str,
    message: Message | None = None,
) -> CaseConsent:
    """The handler records a consent the student gave or withdrew later."""
    _require("consent", case, user)
    kind, source = ConsentKind(kind), ConsentSource(source)
    if source == ConsentSource.FORM:
        raise WorkflowError(_l("Kies hoe de student dit liet weten."), "source")
    if source == ConsentSource.MESSAGE and (
        message is None or message.case_id != case.id or message.kind != Message.FROM_STUDENT
    ):
        raise WorkflowError(_l("Kies het bericht van de student."), "message_id")
    if kind == ConsentKind.SBB_IDENTITY and given:
        if case.is_anonymous:
            raise WorkflowError(
                _l("De student meldde anoniem; SBB kan de naam dus niet krijgen."), "kind"
            )
        if not case.consent_sbb:
            raise WorkflowError(_l("Leg eerst vast dat de melding naar SBB mag."), "kind")
    if case.consent(kind) == given:
        raise WorkflowError(
            _l("Dit staat al zo vastgelegd.") if given else _l("Deze toestemming was er niet."),
            "given",
        )
    if kind == ConsentKind.SBB and not given and case.consent_sbb_identity:
        # Without the report going to SBB, the name cannot go either (withdrawn first,
        # so that the case is consistent at every flush).
        _add_consent(case, user, ConsentKind.SBB_IDENTITY, False, source, message)
    record = _add_consent(case, user, kind, given, source, message)
    if not case.consent_sbb_identity:
        retention.remove_sbb_identity(case, user)
    return record


def _add_consent(case, user, kind, given, source, message) -> CaseConsent:
    setattr(case, f"consent_{kind}", given)
    record = CaseConsent(
        case=case,
        kind=kind,
        given=given,
        source=source,
        message_id=message.id if message is not None else None,
        recorded_by=user,
    )
    db.session.add(record)
    db.session.flush()
    audit.record(
        "case.consent_recorded",
        case=case,
        actor=user,
        kind=str(kind),
        given=given,
        source=str(source),
        consent_id=record.id,
    )
    return record


# --- ADV referral ------------------------------------------------------------------


def _chosen_files(case: Case, attachment_ids) -> list:
    chosen = {int(i) for i in attachment_ids or ()}
    files = [a for a in case.attachments if a.id in chosen]
    if len(files) != len(chosen):
        raise WorkflowError(_l("Kies alleen bestanden van deze melding."), "attachment_ids")
    return files


def refer(
    case: Case,
    user: User,
    adv: Adv | None,
    summary: str,
    share_contact: bool,
    attachment_ids=(),
) -> Referral:
    """Hand the case to an ADV with what the handler chose to share, by mail."""
    _require("refer", case, user)
    files = _chosen_files(case, attachment_ids)
    summary = _clean_text(summary)
    if adv is None:
        raise WorkflowError(_l("Kies het antidiscriminatiebureau."), "adv_id")
    if not adv.email:
        raise WorkflowError(
            _l(
                "Van dit bureau is geen e-mailadres bekend; vraag de platformbeheerder het aan te vullen."
            ),
            "adv_id",
        )
    if not summary:
        raise WorkflowError(_l("Schrijf een samenvatting voor het ADV."), "summary")
    if share_contact and not can_share_contact(case):
        raise WorkflowError(
            _l("De student gaf geen toestemming voor contact, of liet geen gegevens achter."),
            "share_contact",
        )
    referral = Referral(
        case=case, adv=adv, referred_by=user, summary=summary, shared_contact=share_contact
    )
    referral.attachments = files
    db.session.add(referral)
    db.session.flush()
    _move(
        case,
        "refer",
        user,
        referral_id=referral.id,
        adv_id=adv.id,
        shared_contact=share_contact,
        attachment_ids=[a.id for a in files],
    )
    notify.adv_of_referral(referral)
    notify.student_of_news(case)
    return referral


def can_share_contact(case: Case) -> bool:
    return (
        case.consent_contact
        and not case.is_anonymous
        and bool(case.reporter_name and (case.email or case.phone))
    )


def record_adv_answer(
    case: Case, user: User, answer: AdvAnswer | str, note: str | None
) -> Referral:
    """The ADV's answer, as the handler heard it; declined or closed returns the case."""
    _require("adv_answer", case, user)
    answer = AdvAnswer(answer)
    referral = case.open_referral
    if referral is None:  # pragma: no cover - a referred case always has one
        raise WorkflowError(_l("Deze stap kan nu niet bij deze melding."))
    note = _clean_text(note)
    if answer != AdvAnswer.TAKEN_ON and not note:
        raise WorkflowError(_l("Schrijf wat het ADV liet weten."), "note")
    if answer == referral.answer:
        raise WorkflowError(_l("Dit antwoord staat al vastgelegd."), "answer")
    referral.answer = answer
    referral.answer_note = note or None
    referral.answered_at = utcnow()
    referral.answered_by_id = user.id
    details = {"referral_id": referral.id, "answer": str(answer)}
    if answer == AdvAnswer.TAKEN_ON:
        audit.record("case.adv_answered", case=case, actor=user, **details)
    else:
        _move(case, "return_from_referral", user, **details)
    notify.student_of_news(case)
    return referral


# --- SBB escalation ---------------------------------------------------------------


def escalate(
    case: Case, user: User, summary: str, share_identity: bool, attachment_ids=()
) -> Investigation:
    """Hand the case to SBB: a copy of what is shared, and nothing else of the case."""
    _require("escalate", case, user)
    files = _chosen_files(case, attachment_ids)
    summary = _clean_text(summary)
    if not summary:
        raise WorkflowError(_l("Schrijf een samenvatting voor SBB, zonder namen."), "summary")
    if share_identity and not case.consent_sbb_identity:
        raise WorkflowError(
            _l("De student gaf geen toestemming om de naam met SBB te delen."), "share_identity"
        )
    incident_month = case.incident_date.replace(day=1) if case.incident_date else None
    investigation = Investigation(
        company_id=case.company_id,
        origin=InvestigationOrigin.ESCALATION,
        status=InvestigationStatus.RECEIVED,
        case=case,
        institution_id=case.institution_id,
        created_by_id=user.id,
        summary=summary,
        shared_grounds=",".join(case.ground_codes),
        shared_phase=case.phase,
        shared_form=case.form,
        shared_incident_month=incident_month,
        shares_identity=share_identity,
        student_name=case.reporter_name if share_identity else None,
        student_email=case.email if share_identity else None,
        student_phone=case.phone if share_identity else None,
    )
    investigation.attachments = files
    db.session.add(investigation)
    db.session.flush()
    _move(
        case,
        "escalate",
        user,
        investigation_id=investigation.id,
        company_id=case.company_id,
        shares_identity=share_identity,
        attachment_ids=[a.id for a in files],
    )
    notify.student_of_news(case)
    return investigation


def return_from_escalation(case: Case, reviewer: User, decision: Decision) -> None:
    """SBB decided: the case is the school's again, to close with the student."""
    _move(case, "return_from_escalation", reviewer, decision=str(decision))
    notify.student_of_news(case)
