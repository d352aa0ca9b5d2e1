"""Erasing the personal data of closed cases: after the retention period, or on request.

`erase_personal_data` is the one place that does it, for the `retention`
command (each institution's period after closing) and for the handler's
"erase" step in `stagepact.workflow` (the student asked, or withdrew). What
identifies the student or tells their story goes: identity, contact details,
the narrative, every message and note, what was written for the ADV, the name
SBB held, and every file. What statistics count stays: every categorical
field and every date, so that no figure changes when a case is erased.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from . import attachments, audit, follow_up_sessions, submissions
from .deadlines import add_months, local_date, start_of_local_day
from .extensions import db
from .models import Case, Institution, OutboxMail, User, outbox_attachment, utcnow
from .vocab import Status

# Personal fields of a case that become empty; the narrative (NOT NULL) becomes "".
ERASED_FIELDS = (
    "reporter_name",
    "student_number",
    "email",
    "phone",
    "notify_email",
    "programme",
    "incident_period",
    "company_text",
)
# Sent mail is kept this long (for questions about delivery), then deleted:
# a mail to an ADV holds a summary and perhaps the student's contact details.
SENT_MAIL_DAYS = 30

RETENTION = "retention"
REQUEST = "request"
WITHDRAWN = "withdrawn"


class ErasureError(Exception):
    """A case whose personal data may not be erased (not closed, or erased already)."""


def erase_personal_data(case: Case, actor: User | str, reason: str) -> None:
    """Erase the personal data of a closed case in the caller's transaction.

    One audit event records what was erased, as field names and counts only.
    Files go with their rows (see `attachments.remove`); a receipt code still kept to
    show a resent form again goes too (`submissions`).
    """
    if case.status != Status.CLOSED:
        raise ErasureError("only a closed case's personal data are erased")
    if case.personal_data_erased_at is not None:
        raise ErasureError("this case's personal data were erased already")
    fields = [name for name in ERASED_FIELDS if getattr(case, name) is not None]
    if case.narrative:
        fields.append("narrative")
    for name in ERASED_FIELDS:
        setattr(case, name, None)
    case.narrative = ""
    follow_up_sessions.end_all(case)
    submissions.forget_case(case)

    messages = [m for m in case.messages if m.body]
    for message in messages:
        message.body = ""
    for referral in case.referrals:
        referral.summary = ""
        if referral.answer_note is not None:
            referral.answer_note = ""
    # SBB keeps its pseudonymised summary; the name it may have had goes.
    # What the school and SBB wrote to each other about the case may mention the student.
    sbb_messages = [m for i in case.investigations for m in i.messages if m.body]
    for message in sbb_messages:
        message.body = ""
    identities = remove_sbb_identity(case, actor)
    files = list(case.attachments)
    attachments.remove(files)

    case.personal_data_erased_at = utcnow()
    audit.record(
        "case.personal_data_erased",
        case=case,
        actor=actor,
        reason=reason,
        fields=fields,
        messages=len(messages),
        sbb_messages=len(sbb_messages),
        referrals=len(case.referrals),
        investigations_identity_removed=identities,
        attachments=len(files),
    )


def remove_sbb_identity(case: Case, actor: User | str) -> int:
    """SBB's copy of the student's name and contact details goes, from every investigation
    of the case that holds them, each with an `investigation.identity_removed` event: when
    the student takes back their consent to share their name, withdraws, or their data are
    erased. Returns how many investigations held them."""
    removed = 0
    for investigation in case.investigations:
        held = (
            investigation.shares_identity,
            investigation.student_name,
            investigation.student_email,
            investigation.student_phone,
        )
        if not any(held):
            continue
        investigation.shares_identity = False
        investigation.student_name = None
        investigation.student_email = None
        investigation.student_phone = None
        audit.record(
            "investigation.identity_removed",
            case=case,
            actor=actor,
            investigation_id=investigation.id,
        )
        removed += 1
    return removed


# --- The retention period ------------------------------------------------------------------


def cutoff(institution: Institution, now: datetime | None = None) -> datetime:
    """Cases closed before this (naive UTC) moment are past the institution's retention period.

    The period counts in calendar months of the Dutch calendar: a case closed on
    15 March with a period of 24 months is erased from 16 March two years later.
    """
    today = local_date(now or utcnow())
    return start_of_local_day(add_months(today, -institution.retention_months))


def _due(institution: Institution, now: datetime | None = None) -> sa.Select:
    return sa.select(Case).where(
        Case.institution_id == institution.id,
        Case.status == Status.CLOSED,
        Case.closed_at < cutoff(institution, now),
        Case.personal_data_erased_at.is_(None),
    )


@dataclass
class DueCase:
    id: int
    number: str


@dataclass
class DueInstitution:
    institution: Institution
    cases: list[DueCase]


def due_for_erasure(now: datetime | None = None) -> list[DueInstitution]:
    """Per institution (those with any), the closed cases past its retention period."""
    found = []
    for institution in db.session.scalars(sa.select(Institution).order_by(Institution.name)):
        select = _due(institution, now).with_only_columns(Case.id, Case.number)
        rows = db.session.execute(select.order_by(Case.closed_at, Case.id)).all()
        if rows:
            found.append(DueInstitution(institution, [DueCase(r.id, r.number) for r in rows]))
    return found


def erase_if_due(institution: Institution, case_id: int, now: datetime | None = None) -> bool:
    """Erase one case if it is (still) due, with its row locked; False if it no longer is.

    Checked again under the lock, so that a case reopened in the meantime is left alone.
    """
    case = db.session.scalar(_due(institution, now).where(Case.id == case_id).with_for_update())
    if case is None:
        return False
    erase_personal_data(case, "system", RETENTION)
    return True


def _old_sent_mail(now: datetime | None = None):
    return sa.and_(
        OutboxMail.sent_at.is_not(None),
        OutboxMail.sent_at < (now or utcnow()) - timedelta(days=SENT_MAIL_DAYS),
    )


def old_sent_mail_count(now: datetime | None = None) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(OutboxMail).where(_old_sent_mail(now))
    )


def purge_sent_mail(now: datetime | None = None) -> int:
    """Delete mail sent more than SENT_MAIL_DAYS ago; their bodies may hold personal data."""
    ids = sa.select(OutboxMail.id).where(_old_sent_mail(now)).scalar_subquery()
    # Foreign keys do not cascade on SQLite: the links to files go first.
    db.session.execute(
        sa.delete(outbox_attachment).where(outbox_attachment.c.outbox_mail_id.in_(ids))
    )
    result = db.session.execute(
        sa.delete(OutboxMail)
        .where(_old_sent_mail(now))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount
