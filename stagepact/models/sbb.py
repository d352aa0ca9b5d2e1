"""SBB's side: the register of learning companies, their recognition history,
and the investigations with their messages."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.hybrid import hybrid_method
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..crypto import EncryptedText
from ..extensions import db
from ..vocab import (
    FORMS,
    PHASES,
    Decision,
    InvestigationOrigin,
    InvestigationStatus,
    Recognition,
)
from .base import _enum, _one_of, utcnow

if TYPE_CHECKING:  # the relationships name their classes as strings
    from .accounts import Institution, User
    from .case import Attachment, Case


class Company(db.Model):
    """A learning company (leerbedrijf) in the register SBB keeps.

    `recognition_status` is the current SBB recognition; every change to it is a
    `RecognitionChange` row, written only by `stagepact.sbb_workflow`.
    """

    __tablename__ = "company"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), index=True)
    kvk: Mapped[str | None] = mapped_column(sa.String(8), unique=True)
    sbb_number: Mapped[str | None] = mapped_column(sa.String(20))
    address: Mapped[str] = mapped_column(sa.String(200), default="")
    city: Mapped[str] = mapped_column(sa.String(100), default="")
    sector: Mapped[str] = mapped_column(sa.String(100), default="")
    recognition_status: Mapped[Recognition] = mapped_column(
        _enum(Recognition, "recognition"), default=Recognition.RECOGNISED
    )
    verified: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    recognition_history: Mapped[list[RecognitionChange]] = relationship(
        back_populates="company", order_by="RecognitionChange.id.desc()"
    )


investigation_attachment = sa.Table(
    "investigation_attachment",
    db.metadata,
    sa.Column(
        "investigation_id",
        sa.ForeignKey("investigation.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "attachment_id", sa.ForeignKey("attachment.id", ondelete="CASCADE"), primary_key=True
    ),
)


investigation_status_enum = _enum(InvestigationStatus, "investigation_status")


class Investigation(db.Model):
    """SBB's work on a learning company: from a school's escalation, or from a signal.

    An escalation holds a copy of exactly what the institution shared; SBB's
    pages read this row and never the case itself.
    """

    __tablename__ = "investigation"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    origin: Mapped[InvestigationOrigin] = mapped_column(
        _enum(InvestigationOrigin, "investigation_origin")
    )
    status: Mapped[InvestigationStatus] = mapped_column(
        investigation_status_enum, default=InvestigationStatus.RECEIVED
    )
    # The escalating institution and its case; both empty for an investigation from a signal.
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("report_case.id"), index=True)
    institution_id: Mapped[int | None] = mapped_column(sa.ForeignKey("institution.id"))
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    # What was shared with SBB (escalation), or why SBB opened it (signal).
    summary: Mapped[str] = mapped_column(EncryptedText)
    shared_grounds: Mapped[str] = mapped_column(sa.String(400), default="")
    shared_phase: Mapped[str | None] = mapped_column(sa.String(16))
    shared_form: Mapped[str | None] = mapped_column(sa.String(16))
    shared_incident_month: Mapped[date | None]
    shares_identity: Mapped[bool] = mapped_column(default=False)
    student_name: Mapped[str | None] = mapped_column(EncryptedText)
    student_email: Mapped[str | None] = mapped_column(EncryptedText)
    student_phone: Mapped[str | None] = mapped_column(EncryptedText)

    # The company's recognition when the investigation started, to restore.
    recognition_before: Mapped[Recognition | None] = mapped_column(
        _enum(Recognition, "recognition_before")
    )
    started_at: Mapped[datetime | None]
    decision: Mapped[Decision | None] = mapped_column(_enum(Decision, "decision"))
    decision_reasoning: Mapped[str | None] = mapped_column(EncryptedText)
    conditions: Mapped[str | None] = mapped_column(EncryptedText)
    conditions_due_on: Mapped[date | None]
    suspended_until: Mapped[date | None]
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    objection_at: Mapped[datetime | None]
    objection_upheld: Mapped[bool | None]
    closed_at: Mapped[datetime | None]
    # When the student withdrew the report at school while SBB still had it open.
    case_withdrawn_at: Mapped[datetime | None]
    # Set by the scheduled job `sbb-dates`: the suspension's end was applied, and SBB was
    # reminded that the improvement agreements fell due.
    suspension_ended_at: Mapped[datetime | None]
    conditions_reminded_at: Mapped[datetime | None]
    # SBB's own deadlines: start within SBB_START_WORKING_DAYS of receiving it, decide
    # within SBB_DECIDE_MONTHS of starting; reminded once before, then every
    # SBB_OVERDUE_REPEAT_DAYS working days while overdue.
    start_due_on: Mapped[date | None]
    decide_due_on: Mapped[date | None]
    deadline_reminded_at: Mapped[datetime | None]
    overdue_reminded_on: Mapped[date | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    company: Mapped[Company] = relationship()
    case: Mapped[Case | None] = relationship(back_populates="investigations")
    institution: Mapped[Institution | None] = relationship()
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    attachments: Mapped[list[Attachment]] = relationship(
        secondary=investigation_attachment, order_by="Attachment.id"
    )
    messages: Mapped[list[InvestigationMessage]] = relationship(
        back_populates="investigation",
        cascade="all, delete-orphan",
        order_by="InvestigationMessage.id",
    )

    __table_args__ = (
        sa.Index("ix_investigation_queue", "status", "created_at"),
        sa.CheckConstraint(
            "(origin = 'escalation') = (case_id IS NOT NULL AND institution_id IS NOT NULL)",
            name="escalation_has_case",
        ),
        sa.CheckConstraint(
            "shares_identity OR (student_name IS NULL AND student_email IS NULL"
            " AND student_phone IS NULL)",
            name="identity_only_when_shared",
        ),
        sa.CheckConstraint(
            "status IN ('received', 'investigating') OR decision IS NOT NULL",
            name="decided_has_decision",
        ),
        _one_of("shared_phase", PHASES, nullable=True),
        _one_of("shared_form", FORMS, nullable=True),
    )

    @property
    def is_open(self) -> bool:
        return self.status != InvestigationStatus.CLOSED

    @hybrid_method
    def start_overdue(self, today: date) -> bool:
        return (
            self.status == InvestigationStatus.RECEIVED
            and self.start_due_on is not None
            and self.start_due_on < today
        )

    @start_overdue.expression
    def start_overdue(cls, today: date):
        return sa.and_(cls.status == InvestigationStatus.RECEIVED, cls.start_due_on < today)

    @hybrid_method
    def decide_overdue(self, today: date) -> bool:
        return (
            self.status == InvestigationStatus.INVESTIGATING
            and self.decide_due_on is not None
            and self.decide_due_on < today
        )

    @decide_overdue.expression
    def decide_overdue(cls, today: date):
        return sa.and_(cls.status == InvestigationStatus.INVESTIGATING, cls.decide_due_on < today)

    @hybrid_method
    def is_overdue(self, today: date) -> bool:
        return self.start_overdue(today) or self.decide_overdue(today)

    @is_overdue.expression
    def is_overdue(cls, today: date):
        return sa.or_(cls.start_overdue(today), cls.decide_overdue(today))

    @property
    def due_on(self) -> date | None:
        """The deadline running now: starting, or deciding."""
        if self.status == InvestigationStatus.RECEIVED:
            return self.start_due_on
        if self.status == InvestigationStatus.INVESTIGATING:
            return self.decide_due_on
        return None

    @property
    def reference(self) -> str:
        return f"SBB-{self.id:05d}"

    @property
    def ground_codes(self) -> list[str]:
        return [g for g in self.shared_grounds.split(",") if g]


class InvestigationMessage(db.Model):
    """A message between SBB and the escalating institution's handlers."""

    __tablename__ = "investigation_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    investigation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("investigation.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    from_sbb: Mapped[bool]
    body: Mapped[str] = mapped_column(EncryptedText)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    investigation: Mapped[Investigation] = relationship(back_populates="messages")
    author: Mapped[User] = relationship()


class RecognitionChange(db.Model):
    """One step in a company's recognition history: from, to, why and by whom."""

    __tablename__ = "recognition_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    investigation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("investigation.id"))
    from_status: Mapped[Recognition] = mapped_column(_enum(Recognition, "from_recognition"))
    to_status: Mapped[Recognition] = mapped_column(_enum(Recognition, "to_recognition"))
    cause: Mapped[str] = mapped_column(sa.String(32))
    reason: Mapped[str] = mapped_column(EncryptedText)
    until: Mapped[date | None]
    # None when the system made the change (a suspension that ended on its date).
    changed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)

    company: Mapped[Company] = relationship(back_populates="recognition_history")
    changed_by: Mapped[User | None] = relationship()
