"""Handing a case over: the referral to an ADV and its answer, the escalation to SBB
and SBB's decision."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from .. import audit, notify
from ..extensions import db
from ..models import (
    Adv,
    Case,
    Investigation,
    Referral,
    User,
    utcnow,
)
from ..vocab import (
    AdvAnswer,
    Decision,
    InvestigationOrigin,
    InvestigationStatus,
)
from .states import (
    WorkflowError,
    _clean_text,
    _move,
    _require,
    _required_text,
)

# --- ADV referral ------------------------------------------------------------------


def _chosen_files(case: Case, attachment_ids) -> list:
    chosen = {int(i) for i in attachment_ids or ()}
    files = [a for a in case.attachments if a.id in chosen]
    if len(files) != len(chosen):
        raise WorkflowError(_l("Kies alleen bestanden van deze melding."), "attachment_ids")
    return files


def _hand_over(case: Case, name: str, user: User, record, files: list, **details) -> None:
    """Store the referral or investigation with the files chosen for it, and move the
    case; the event names the record (`referral_id`, `investigation_id`) and the files."""
    record.attachments = files
    db.session.add(record)
    db.session.flush()
    key = f"{record.__tablename__}_id"
    _move(case, name, user, **{key: record.id}, **details, attachment_ids=[a.id for a in files])


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
    _hand_over(case, "refer", user, referral, files, adv_id=adv.id, shared_contact=share_contact)
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
    summary = _required_text(
        summary, _l("Schrijf een samenvatting voor SBB, zonder namen."), "summary"
    )
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
    _hand_over(
        case,
        "escalate",
        user,
        investigation,
        files,
        company_id=case.company_id,
        shares_identity=share_identity,
    )
    notify.sbb_of_escalation(investigation)
    notify.student_of_news(case)
    return investigation


def return_from_escalation(case: Case, reviewer: User, decision: Decision) -> None:
    """SBB decided: the case is the school's again, to close with the student."""
    _move(case, "return_from_escalation", reviewer, decision=str(decision))
    notify.student_of_news(case)
