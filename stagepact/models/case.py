"""A report and everything that belongs to it: its grounds and wishes, messages,
consents, files, referrals to an ADV, the student's follow-up sessions, and the
deadline results computed at every flush. Status only changes in
`stagepact.workflow`."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.hybrid import hybrid_method
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from ..crypto import EncryptedText
from ..deadlines import local_date
from ..disclosure import new_record_key
from ..extensions import db
from ..vocab import (
    CONTACT_PREFERENCES,
    FEEDBACK_STATUSES,
    FORMS,
    GROUNDS,
    OPEN_STATUSES,
    PHASES,
    REPORTER_ROLES,
    WHO,
    WISHES,
    AdvAnswer,
    Channel,
    ConsentKind,
    ConsentSource,
    Outcome,
    Status,
)
from .base import _enum, _one_of, month_number, utcnow, whole_days

if TYPE_CHECKING:  # the relationships name their classes as strings
    from .accounts import Adv, Institution, User
    from .sbb import Company, Investigation


def _of_case(**options):
    """The column that ties a row to its case: it goes when the case goes."""
    return mapped_column(sa.ForeignKey("report_case.id", ondelete="CASCADE"), **options)


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
    programme: Mapped[str | None] = mapped_column(EncryptedText)
    level: Mapped[str | None] = mapped_column(sa.String(1))
    path: Mapped[str | None] = mapped_column(sa.String(3))
    study_year: Mapped[int | None]

    # What happened.
    narrative: Mapped[str] = mapped_column(EncryptedText)
    incident_date: Mapped[date | None]
    incident_period: Mapped[str | None] = mapped_column(EncryptedText)
    phase: Mapped[str | None] = mapped_column(sa.String(16))
    who: Mapped[str | None] = mapped_column(sa.String(16))
    form: Mapped[str | None] = mapped_column(sa.String(16))
    company_id: Mapped[int | None] = mapped_column(sa.ForeignKey("company.id"))
    company_text: Mapped[str | None] = mapped_column(EncryptedText)

    # Consents as they stand now; `CaseConsent` holds when and how each was given.
    consent_adv: Mapped[bool] = mapped_column(default=False)
    consent_sbb: Mapped[bool] = mapped_column(default=False)
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
    # The last day the handlers (and, late enough, the admins) were reminded that a
    # deadline has passed; again every `Institution.overdue_repeat_days` working days.
    overdue_reminded_on: Mapped[date | None]
    # Whether each deadline was met, kept with the case (see `_record_deadline_results`),
    # so that statistics count them in SQL and they outlive erased personal data.
    ack_on_time: Mapped[bool | None]
    feedback_on_time: Mapped[bool | None]
    # Whole days from submission to acknowledgement and to closing, for the medians.
    ack_days: Mapped[int | None]
    close_days: Mapped[int | None]
    outcome: Mapped[Outcome | None] = mapped_column(_enum(Outcome, "outcome"))
    # The student asked (with the code) for their personal data to be erased;
    # when a handler has done so, or retention did.
    erasure_requested_at: Mapped[datetime | None]
    personal_data_erased_at: Mapped[datetime | None]
    duplicate_of_id: Mapped[int | None] = mapped_column(sa.ForeignKey("report_case.id"))
    # For the statistics: the month of submission in Dutch time (periods are whole
    # months; kept by `_record_deadline_results`), and a random key fixed at creation
    # from which the noise of every count the report is in follows (disclosure.py).
    # Neither is personal: both outlive erasure, so the statistics do not change.
    submitted_month: Mapped[int] = mapped_column(index=True)  # e.g. 202503
    record_key: Mapped[int] = mapped_column(default=new_record_key)
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
    consents: Mapped[list[CaseConsent]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseConsent.id"
    )
    referrals: Mapped[list[Referral]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="Referral.id"
    )
    investigations: Mapped[list[Investigation]] = relationship(
        back_populates="case", order_by="Investigation.id"
    )
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="case",
        cascade="all, delete-orphan",
        order_by="Attachment.id",
        foreign_keys="Attachment.case_id",
    )

    __table_args__ = (
        sa.UniqueConstraint("institution_id", "number", name="uq_report_case_number"),
        sa.Index("ix_report_case_inbox", "institution_id", "status", "submitted_at"),
        sa.Index("ix_report_case_submitted", "institution_id", "submitted_at"),
        # SBB's per-company counts and signals: reports naming a company, by date.
        sa.Index(
            "ix_report_case_company", "company_id", "submitted_at", "institution_id", "outcome"
        ),
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
        _one_of("reporter_role", REPORTER_ROLES),
        _one_of("contact_preference", CONTACT_PREFERENCES),
        _one_of("phase", PHASES, nullable=True),
        _one_of("who", WHO, nullable=True),
        _one_of("form", FORMS, nullable=True),
        sa.CheckConstraint(
            "NOT consent_sbb_identity OR (consent_sbb AND NOT is_anonymous)",
            name="sbb_identity_consent",
        ),
    )

    def consent(self, kind: ConsentKind) -> bool:
        return bool(getattr(self, f"consent_{kind}"))

    @property
    def open_referral(self) -> Referral | None:
        return next((r for r in reversed(self.referrals) if r.is_open), None)

    @property
    def open_investigation(self) -> Investigation | None:
        return next((i for i in reversed(self.investigations) if i.is_open), None)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def ground_codes(self) -> list[str]:
        return [g.ground for g in self.grounds]

    @property
    def wish_codes(self) -> list[str]:
        return [w.wish for w in self.wishes]

    # --- Deadlines: whether each is running, met or overdue, said once ------------------
    # The model, the inbox, the reminders and the statistics all ask these; each is a
    # hybrid, so that the same rule filters many cases in SQL. Whether a deadline was
    # met is kept with the case (`deadline_results`).

    @hybrid_method
    def ack_running(self) -> bool:
        """The acknowledgement is awaited: the report is still new."""
        return self.status == Status.NEW

    @hybrid_method
    def feedback_running(self) -> bool:
        """Feedback is awaited: acknowledged, open, and no feedback given yet."""
        return self.status in FEEDBACK_STATUSES and self.feedback_at is None

    @feedback_running.expression
    def feedback_running(cls):
        return sa.and_(cls.status.in_(FEEDBACK_STATUSES), cls.feedback_at.is_(None))

    @hybrid_method
    def ack_overdue(self, today: date) -> bool:
        return self.ack_running() and self.ack_due_on is not None and today > self.ack_due_on

    @ack_overdue.expression
    def ack_overdue(cls, today: date):
        return sa.and_(cls.ack_running(), cls.ack_due_on < today)

    @hybrid_method
    def feedback_overdue(self, today: date) -> bool:
        return (
            self.feedback_running()
            and self.feedback_due_on is not None
            and today > self.feedback_due_on
        )

    @feedback_overdue.expression
    def feedback_overdue(cls, today: date):
        return sa.and_(cls.feedback_running(), cls.feedback_due_on < today)

    def needs_new_handler(self, today: date) -> bool:
        """An open case whose assignee is disabled or away: nobody holds it now."""
        assignee = self.assigned_to
        return (
            self.status in OPEN_STATUSES and assignee is not None and not assignee.is_present(today)
        )

    @hybrid_method
    def is_overdue(self, today: date) -> bool:
        return self.ack_overdue(today) or self.feedback_overdue(today)

    @is_overdue.expression
    def is_overdue(cls, today: date):
        return sa.or_(cls.ack_overdue(today), cls.feedback_overdue(today))

    @hybrid_method
    def ack_fell_due(self, today: date) -> bool:
        """The acknowledgement deadline counts in the statistics: met, missed, or passed
        while still awaited."""
        return self.ack_on_time is not None or self.ack_overdue(today)

    @ack_fell_due.expression
    def ack_fell_due(cls, today: date):
        return sa.or_(cls.ack_on_time.is_not(None), cls.ack_overdue(today))

    @hybrid_method
    def feedback_fell_due(self, today: date) -> bool:
        return self.feedback_on_time is not None or self.feedback_overdue(today)

    @feedback_fell_due.expression
    def feedback_fell_due(cls, today: date):
        return sa.or_(cls.feedback_on_time.is_not(None), cls.feedback_overdue(today))


def deadline_results(case: Case) -> tuple[bool | None, bool | None]:
    """Whether acknowledgement and feedback came on or before their (local) due dates."""
    ack = None
    if case.acknowledged_at is not None and case.ack_due_on is not None:
        ack = local_date(case.acknowledged_at) <= case.ack_due_on
    feedback = None
    if case.feedback_at is not None and case.feedback_due_on is not None:
        feedback = local_date(case.feedback_at) <= case.feedback_due_on
    return ack, feedback


@sa.event.listens_for(Session, "before_flush", propagate=True)
def _record_deadline_results(session, flush_context, instances) -> None:
    for obj in (*session.new, *session.dirty):
        if isinstance(obj, Case):
            if obj.submitted_at is None:
                obj.submitted_at = utcnow()
            obj.submitted_month = month_number(local_date(obj.submitted_at))
            obj.ack_on_time, obj.feedback_on_time = deadline_results(obj)
            obj.ack_days = whole_days(obj.submitted_at, obj.acknowledged_at)
            obj.close_days = whole_days(obj.submitted_at, obj.closed_at)


class FollowUpSession(db.Model):
    """A browser that opened a case with its code (see `stagepact.follow_up_sessions`).

    The cookie holds a random id; only its SHA-256 is stored, so that the table
    alone opens nothing. A revoked or expired row opens nothing either, whatever
    cookie is shown.
    """

    __tablename__ = "follow_up_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    id_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    case_id: Mapped[int] = _of_case(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]

    case: Mapped[Case] = relationship()


class Submission(db.Model):
    """A report form that was accepted, by its once-only submission id (see
    `stagepact.submissions`): the same form sent again (a reload, a retry after a dropped
    connection or a database that was briefly away) finds the case it opened instead of
    opening a second one. Only hashes of the id and of the browser are stored; the
    receipt code is kept, encrypted, for a short time only, to show it again to that
    browser."""

    __tablename__ = "submission"

    id_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    case_id: Mapped[int] = _of_case(index=True)
    browser_hash: Mapped[str] = mapped_column(sa.String(64))
    receipt_code: Mapped[str | None] = mapped_column(EncryptedText)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    case: Mapped[Case] = relationship()


class CaseGround(db.Model):
    """A ground of discrimination named in a report; a report may name several."""

    __tablename__ = "case_ground"

    case_id: Mapped[int] = _of_case(primary_key=True)
    ground: Mapped[str] = mapped_column(sa.String(24), primary_key=True)

    __table_args__ = (_one_of("ground", GROUNDS),)


class CaseWish(db.Model):
    """What the student wants to happen; several may apply."""

    __tablename__ = "case_wish"

    case_id: Mapped[int] = _of_case(primary_key=True)
    wish: Mapped[str] = mapped_column(sa.String(24), primary_key=True)

    __table_args__ = (_one_of("wish", WISHES),)


class Message(db.Model):
    """A message between student and meldpunt, or an internal note of the handlers."""

    __tablename__ = "case_message"

    TO_STUDENT = "to_student"
    FROM_STUDENT = "from_student"
    NOTE = "note"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = _of_case(index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    body: Mapped[str] = mapped_column(EncryptedText)
    is_feedback: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="messages")
    author: Mapped[User | None] = relationship()
    attachments: Mapped[list[Attachment]] = relationship(order_by="Attachment.id", viewonly=True)

    __table_args__ = (
        sa.CheckConstraint("kind IN ('to_student', 'from_student', 'note')", name="kind"),
    )


class CaseConsent(db.Model):
    """One consent given or withdrawn: what, when, and how the student gave it."""

    __tablename__ = "case_consent"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = _of_case(index=True)
    kind: Mapped[ConsentKind] = mapped_column(_enum(ConsentKind, "consent_kind"))
    given: Mapped[bool]
    source: Mapped[ConsentSource] = mapped_column(_enum(ConsentSource, "consent_source"))
    # The student's message that holds the consent, when it came in one.
    message_id: Mapped[int | None] = mapped_column(sa.ForeignKey("case_message.id"))
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="consents")
    recorded_by: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint(
            "source <> 'message' OR message_id IS NOT NULL", name="message_source_has_message"
        ),
    )


class Attachment(db.Model):
    """An evidence file; its encrypted bytes are an `AttachmentContent` row.

    Until the form it came with is sent, an upload is pending: it belongs to no
    case and is found only by its random token (the form carries it in a hidden
    field, so that a form shown again keeps its files). A pending upload sent
    towards an existing case names it in `pending_case_id`, so that it counts
    against that case's room from the moment it is stored. `cleaned` is false
    while an upload has passed only the cheap checks (its form was not yet valid).
    """

    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = _of_case(index=True)
    message_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("case_message.id", ondelete="SET NULL")
    )
    token: Mapped[str] = mapped_column(sa.String(64), unique=True)
    original_name: Mapped[str] = mapped_column(EncryptedText)
    kind: Mapped[str] = mapped_column(sa.String(8))
    size: Mapped[int]
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    pending_case_id: Mapped[int | None] = _of_case(index=True)
    cleaned: Mapped[bool] = mapped_column(default=True, server_default=sa.true())

    case: Mapped[Case | None] = relationship(back_populates="attachments", foreign_keys=[case_id])
    uploaded_by: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.Index("ix_attachment_pending", "case_id", "created_at"),
        sa.CheckConstraint("kind IN ('pdf', 'png', 'jpeg', 'docx', 'txt', 'eml')", name="kind"),
    )

    @property
    def from_student(self) -> bool:
        return self.uploaded_by_id is None


class AttachmentContent(db.Model):
    """The bytes of an evidence file, encrypted (a Fernet token), kept apart from its row so
    that listing files never loads them. In the database, so that every app node serves
    every file, the file is stored in the transaction that stores its row (a worker
    killed half-way leaves nothing), and one database backup holds everything."""

    __tablename__ = "attachment_content"

    attachment_id: Mapped[int] = mapped_column(
        sa.ForeignKey("attachment.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)


referral_attachment = sa.Table(
    "referral_attachment",
    db.metadata,
    sa.Column("referral_id", sa.ForeignKey("referral.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "attachment_id", sa.ForeignKey("attachment.id", ondelete="CASCADE"), primary_key=True
    ),
)


class Referral(db.Model):
    """A case handed to an ADV: which, when, what was shared, and the ADV's answer."""

    __tablename__ = "referral"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = _of_case(index=True)
    adv_id: Mapped[int] = mapped_column(sa.ForeignKey("adv.id"))
    referred_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    referred_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Exactly what went to the ADV.
    summary: Mapped[str] = mapped_column(EncryptedText)
    shared_contact: Mapped[bool] = mapped_column(default=False)
    # The ADV's answer, as the handler records it.
    answer: Mapped[AdvAnswer | None] = mapped_column(_enum(AdvAnswer, "adv_answer"))
    answer_note: Mapped[str | None] = mapped_column(EncryptedText)
    answered_at: Mapped[datetime | None]
    answered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))

    case: Mapped[Case] = relationship(back_populates="referrals")
    adv: Mapped[Adv] = relationship()
    attachments: Mapped[list[Attachment]] = relationship(
        secondary=referral_attachment, order_by="Attachment.id"
    )
    referred_by: Mapped[User] = relationship(foreign_keys=[referred_by_id])

    @property
    def is_open(self) -> bool:
        return self.answer in (None, AdvAnswer.TAKEN_ON)
