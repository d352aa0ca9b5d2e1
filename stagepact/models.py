"""The data model. Personal fields use `EncryptedText`; status only changes in
`stagepact.workflow`."""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from .crypto import EncryptedText
from .extensions import db
from .vocab import OPEN_STATUSES, Channel, Outcome, Role, Status


def utcnow() -> datetime:
    """Naive UTC, the same on SQLite and PostgreSQL."""
    return datetime.now(UTC).replace(tzinfo=None)


def _enum(enum_cls, name: str) -> sa.Enum:
    return sa.Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
    )


class Adv(db.Model):
    """A regional anti-discrimination service (antidiscriminatievoorziening)."""

    __tablename__ = "adv"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    region: Mapped[str] = mapped_column(sa.String(200))
    municipalities: Mapped[str] = mapped_column(sa.Text, default="")
    email: Mapped[str | None] = mapped_column(sa.String(254))
    phone: Mapped[str | None] = mapped_column(sa.String(40))
    website: Mapped[str | None] = mapped_column(sa.String(300))


class Institution(db.Model):
    __tablename__ = "institution"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    brin: Mapped[str] = mapped_column(sa.String(4), unique=True)
    slug: Mapped[str] = mapped_column(sa.String(80), unique=True)
    city: Mapped[str] = mapped_column(sa.String(100))
    region: Mapped[str] = mapped_column(sa.String(100), default="")
    intro_text: Mapped[str] = mapped_column(sa.Text, default="")
    colour: Mapped[str] = mapped_column(sa.String(7), default="#154273")
    adv_id: Mapped[int | None] = mapped_column(sa.ForeignKey("adv.id"))
    ack_working_days: Mapped[int] = mapped_column(default=5)
    feedback_months: Mapped[int] = mapped_column(default=3)
    case_counter: Mapped[int] = mapped_column(default=0)
    case_counter_year: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    adv: Mapped[Adv | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint("ack_working_days BETWEEN 1 AND 30", name="ack_working_days"),
        sa.CheckConstraint("feedback_months BETWEEN 1 AND 12", name="feedback_months"),
    )


class User(UserMixin, db.Model):
    """A staff account. Students never have one."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    institution_id: Mapped[int | None] = mapped_column(sa.ForeignKey("institution.id"), index=True)
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    institution: Mapped[Institution | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint(
            "(role IN ('handler', 'institution_admin')) = (institution_id IS NOT NULL)",
            name="institution_role",
        ),
    )

    @validates("email")
    def _lowercase_email(self, key: str, value: str) -> str:
        # One spelling per address, so that the unique constraint means what it says.
        return value.strip().lower()

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_handler(self) -> bool:
        return self.role == Role.HANDLER


class Company(db.Model):
    """A learning company (leerbedrijf). The register grows in a later issue."""

    __tablename__ = "company"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), index=True)
    kvk: Mapped[str | None] = mapped_column(sa.String(8), unique=True)
    sbb_number: Mapped[str | None] = mapped_column(sa.String(20))
    address: Mapped[str] = mapped_column(sa.String(200), default="")
    city: Mapped[str] = mapped_column(sa.String(100), default="")
    sector: Mapped[str] = mapped_column(sa.String(100), default="")
    recognition_status: Mapped[str] = mapped_column(sa.String(32), default="recognised")
    verified: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


case_status_enum = _enum(Status, "case_status")


class Case(db.Model):
    """One report (melding) and everything that follows it."""

    __tablename__ = "report_case"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(sa.ForeignKey("institution.id"))
    number: Mapped[str] = mapped_column(sa.String(20))
    receipt_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    status: Mapped[Status] = mapped_column(case_status_enum, default=Status.NEW)
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "channel"))
    language: Mapped[str] = mapped_column(sa.String(8), default="nl")
    entered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    assigned_to_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))

    # Reporter. Everything identifying is encrypted.
    is_anonymous: Mapped[bool] = mapped_column(default=True)
    reporter_role: Mapped[str] = mapped_column(sa.String(16), default="self")
    reporter_name: Mapped[str | None] = mapped_column(EncryptedText)
    student_number: Mapped[str | None] = mapped_column(EncryptedText)
    email: Mapped[str | None] = mapped_column(EncryptedText)
    phone: Mapped[str | None] = mapped_column(EncryptedText)
    contact_preference: Mapped[str] = mapped_column(sa.String(16), default="none")
    # Only for "there is news" notices; never shown to staff.
    notify_email: Mapped[str | None] = mapped_column(EncryptedText)

    # Student context.
    programme: Mapped[str | None] = mapped_column(sa.String(200))
    level: Mapped[str | None] = mapped_column(sa.String(1))
    path: Mapped[str | None] = mapped_column(sa.String(3))
    study_year: Mapped[int | None]

    # What happened.
    narrative: Mapped[str] = mapped_column(EncryptedText)
    incident_date: Mapped[date | None]
    incident_period: Mapped[str | None] = mapped_column(sa.String(100))
    phase: Mapped[str | None] = mapped_column(sa.String(16))
    who: Mapped[str | None] = mapped_column(sa.String(16))
    form: Mapped[str | None] = mapped_column(sa.String(16))
    company_id: Mapped[int | None] = mapped_column(sa.ForeignKey("company.id"), index=True)
    company_text: Mapped[str | None] = mapped_column(sa.String(200))

    # Consents.
    consent_adv: Mapped[bool] = mapped_column(default=False)
    consent_sbb_identity: Mapped[bool] = mapped_column(default=False)
    consent_contact: Mapped[bool] = mapped_column(default=False)

    # Dates the workflow sets; deadlines are calendar dates in Europe/Amsterdam.
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    ack_due_on: Mapped[date]
    acknowledged_at: Mapped[datetime | None]
    feedback_due_on: Mapped[date | None]
    feedback_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # When the handlers were reminded of each deadline (once per deadline).
    ack_reminded_at: Mapped[datetime | None]
    feedback_reminded_at: Mapped[datetime | None]
    outcome: Mapped[Outcome | None] = mapped_column(_enum(Outcome, "outcome"))
    duplicate_of_id: Mapped[int | None] = mapped_column(sa.ForeignKey("report_case.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    institution: Mapped[Institution] = relationship()
    assigned_to: Mapped[User | None] = relationship(foreign_keys=[assigned_to_id])
    entered_by: Mapped[User | None] = relationship(foreign_keys=[entered_by_id])
    company: Mapped[Company | None] = relationship()
    duplicate_of: Mapped[Case | None] = relationship(remote_side=[id])
    grounds: Mapped[list[CaseGround]] = relationship(
        cascade="all, delete-orphan", order_by="CaseGround.ground"
    )
    wishes: Mapped[list[CaseWish]] = relationship(
        cascade="all, delete-orphan", order_by="CaseWish.wish"
    )
    messages: Mapped[list[Message]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="Message.id"
    )

    __table_args__ = (
        sa.UniqueConstraint("institution_id", "number", name="uq_report_case_number"),
        sa.Index("ix_report_case_inbox", "institution_id", "status", "submitted_at"),
        sa.Index("ix_report_case_submitted", "institution_id", "submitted_at"),
        sa.CheckConstraint(
            "status IN ('new', 'closed') OR acknowledged_at IS NOT NULL",
            name="acknowledged_when_in_progress",
        ),
        sa.CheckConstraint(
            "(status = 'closed') = (closed_at IS NOT NULL AND outcome IS NOT NULL)",
            name="closed_has_outcome",
        ),
        sa.CheckConstraint(
            "outcome <> 'duplicate' OR duplicate_of_id IS NOT NULL", name="duplicate_has_original"
        ),
        sa.CheckConstraint("level IS NULL OR level IN ('1', '2', '3', '4')", name="level"),
        sa.CheckConstraint("path IS NULL OR path IN ('bol', 'bbl')", name="path"),
    )

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def ground_codes(self) -> list[str]:
        return [g.ground for g in self.grounds]

    @property
    def wish_codes(self) -> list[str]:
        return [w.wish for w in self.wishes]

    def ack_overdue(self, today: date) -> bool:
        return self.status == Status.NEW and today > self.ack_due_on

    def feedback_overdue(self, today: date) -> bool:
        return (
            self.status in OPEN_STATUSES
            and self.status != Status.NEW
            and self.feedback_at is None
            and self.feedback_due_on is not None
            and today > self.feedback_due_on
        )

    def is_overdue(self, today: date) -> bool:
        return self.ack_overdue(today) or self.feedback_overdue(today)

    @classmethod
    def overdue_condition(cls, today: date):
        """The same rule as `is_overdue`, as SQL for filtering many cases at once."""
        return sa.or_(
            sa.and_(cls.status == Status.NEW, cls.ack_due_on < today),
            sa.and_(
                cls.status.in_([s for s in OPEN_STATUSES if s != Status.NEW]),
                cls.feedback_at.is_(None),
                cls.feedback_due_on < today,
            ),
        )


class CaseGround(db.Model):
    """A ground of discrimination named in a report; a report may name several."""

    __tablename__ = "case_ground"

    case_id: Mapped[int] = mapped_column(
        sa.ForeignKey("report_case.id", ondelete="CASCADE"), primary_key=True
    )
    ground: Mapped[str] = mapped_column(sa.String(24), primary_key=True)


class CaseWish(db.Model):
    """What the student wants to happen; several may apply."""

    __tablename__ = "case_wish"

    case_id: Mapped[int] = mapped_column(
        sa.ForeignKey("report_case.id", ondelete="CASCADE"), primary_key=True
    )
    wish: Mapped[str] = mapped_column(sa.String(24), primary_key=True)


class Message(db.Model):
    """A message between student and meldpunt, or an internal note of the handlers."""

    __tablename__ = "case_message"

    TO_STUDENT = "to_student"
    FROM_STUDENT = "from_student"
    NOTE = "note"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(
        sa.ForeignKey("report_case.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(16))
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    body: Mapped[str] = mapped_column(EncryptedText)
    is_feedback: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="messages")
    author: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint("kind IN ('to_student', 'from_student', 'note')", name="kind"),
    )


class AuditEvent(db.Model):
    """One append-only, hash-chained entry of the audit trail (see `stagepact.audit`)."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_type: Mapped[str] = mapped_column(sa.String(16))
    actor_id: Mapped[int | None]
    institution_id: Mapped[int | None] = mapped_column(index=True)
    case_id: Mapped[int | None] = mapped_column(index=True)
    action: Mapped[str] = mapped_column(sa.String(64))
    details: Mapped[str] = mapped_column(sa.Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64), unique=True)


class OutboxMail(db.Model):
    """A mail written in the same transaction as its cause, sent later by `send-mail`."""

    __tablename__ = "outbox_mail"

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(EncryptedText)
    subject: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str] = mapped_column(EncryptedText)
    purpose: Mapped[str] = mapped_column(sa.String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(200))
    sent_at: Mapped[datetime | None]

    __table_args__ = (sa.Index("ix_outbox_mail_due", "sent_at", "next_attempt_at"),)


class AuditHead(db.Model):
    """The chain's newest hash, kept in the same transaction as every append.

    It serialises appends (the row is locked) and lets verification notice
    that events were removed from the end of the chain.
    """

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_event_id: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str] = mapped_column(sa.String(64))
    event_count: Mapped[int] = mapped_column(default=0)
