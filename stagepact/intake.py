"""Turning what a student (or a handler on their behalf) wrote into a case."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa

from . import workflow
from .crypto import hash_receipt_code, new_receipt_code
from .extensions import db
from .models import Case, CaseGround, CaseWish, Institution, User
from .vocab import Channel


@dataclass
class ReportData:
    """The fields of DESIGN.md "What a report records", already validated."""

    narrative: str
    reporter_role: str = "self"
    is_anonymous: bool = True
    reporter_name: str | None = None
    student_number: str | None = None
    email: str | None = None
    phone: str | None = None
    contact_preference: str = "none"
    programme: str | None = None
    level: str | None = None
    path: str | None = None
    study_year: int | None = None
    incident_date: date | None = None
    incident_period: str | None = None
    phase: str | None = None
    who: str | None = None
    form: str | None = None
    grounds: list[str] = field(default_factory=list)
    company_id: int | None = None
    company_text: str | None = None
    wishes: list[str] = field(default_factory=list)
    consent_adv: bool = False
    consent_sbb: bool = False
    consent_sbb_identity: bool = False
    consent_contact: bool = False


def _unused_receipt_code() -> tuple[str, str]:
    """A fresh code and its hash; a collision (one in 10**16) simply draws again."""
    while True:
        code = new_receipt_code()
        digest = hash_receipt_code(code)
        taken = db.session.scalar(sa.select(Case.id).where(Case.receipt_hash == digest))
        if taken is None:
            return code, digest


def submit_report(
    institution: Institution,
    data: ReportData,
    *,
    channel: Channel = Channel.WEB,
    language: str = "nl",
    entered_by: User | None = None,
) -> tuple[Case, str]:
    """Open a case for a report; return it with the receipt code, shown once and never stored."""
    code, digest = _unused_receipt_code()
    identity = {}
    if not data.is_anonymous:
        identity = {
            "reporter_name": data.reporter_name,
            "student_number": data.student_number,
            "email": data.email,
            "phone": data.phone,
        }
    case = Case(
        institution=institution,
        receipt_hash=digest,
        channel=channel,
        language=language,
        entered_by=entered_by,
        is_anonymous=data.is_anonymous,
        reporter_role=data.reporter_role,
        contact_preference=data.contact_preference,
        programme=data.programme,
        level=data.level,
        path=data.path,
        study_year=data.study_year,
        narrative=data.narrative,
        incident_date=data.incident_date,
        incident_period=data.incident_period,
        phase=data.phase,
        who=data.who,
        form=data.form,
        company_id=data.company_id,
        company_text=data.company_text,
        consent_adv=data.consent_adv,
        consent_sbb=data.consent_sbb,
        consent_sbb_identity=data.consent_sbb
        and data.consent_sbb_identity
        and not data.is_anonymous,
        consent_contact=data.consent_contact,
        grounds=[CaseGround(ground=g) for g in dict.fromkeys(data.grounds)],
        wishes=[CaseWish(wish=w) for w in dict.fromkeys(data.wishes)],
        **identity,
    )
    workflow.open_case(case, entered_by or workflow.REPORTER)
    workflow.record_initial_consents(case, entered_by)
    return case, code
