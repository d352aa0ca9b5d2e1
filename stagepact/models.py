"""The data model. Personal fields use `EncryptedText`; status only changes in
`stagepact.workflow`."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.ext.hybrid import hybrid_method
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, validates

from .crypto import EncryptedText, email_lookup
from .disclosure import new_record_key
from .extensions import db
from .vocab import (
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
    Decision,
    InvestigationOrigin,
    InvestigationStatus,
    Outcome,
    Recognition,
    Role,
    Status,
)


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


def _one_of(column: str, vocabulary, *, nullable: bool = False) -> sa.CheckConstraint:
    """`column` holds a code of `vocabulary` (or NULL): a categorical column stays clean in
    the database, whatever writes it. The codes are the vocabulary's constants."""
    condition = f"{column} IN ({', '.join(repr(str(code)) for code in vocabulary)})"
    if nullable:
        condition = f"{column} IS NULL OR {condition}"
    return sa.CheckConstraint(condition, name=column)


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
    # Personal data of a closed case are erased this many months after closing.
    retention_months: Mapped[int] = mapped_column(default=24, server_default="24")
    # Handlers of this institution must use two-factor authentication.
    require_2fa: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    case_counter: Mapped[int] = mapped_column(default=0)
    case_counter_year: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    adv: Mapped[Adv | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint("ack_working_days BETWEEN 1 AND 30", name="ack_working_days"),
        sa.CheckConstraint("feedback_months BETWEEN 1 AND 12", name="feedback_months"),
        sa.CheckConstraint("retention_months BETWEEN 1 AND 120", name="retention_months"),
    )


class User(UserMixin, db.Model):
    """A staff account. Students never have one."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The address and the name are personal data: encrypted. The address is found by its
    # blind index (`crypto.email_lookup`), which is also what makes it unique.
    email: Mapped[str] = mapped_column(EncryptedText)
    email_lookup: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(EncryptedText)
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    institution_id: Mapped[int | None] = mapped_column(sa.ForeignKey("institution.id"), index=True)
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # Raised to end every session of the user at once (logout, password or 2FA change).
    session_version: Mapped[int] = mapped_column(default=1, server_default="1")
    password_changed_at: Mapped[datetime | None]
    # Two-factor authentication (TOTP): the secret, and the last time step used,
    # so that a code works only once.
    totp_secret: Mapped[str | None] = mapped_column(EncryptedText)
    totp_enabled_at: Mapped[datetime | None]
    totp_last_step: Mapped[int | None]
    # Failed logins since the last login (told to the owner at the next one), and when
    # the owner was last mailed about failures (at most once an hour). The waits after
    # failures belong to an address, not to the account: see LoginFailure.
    failed_logins: Mapped[int] = mapped_column(default=0, server_default="0")
    failure_notice_at: Mapped[datetime | None]
    # The language of their pages and mails ("nl" or "en"); empty until the first login
    # or their own choice, when the browser's preference still decides.
    language: Mapped[str | None] = mapped_column(sa.String(8))

    institution: Mapped[Institution | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint(
            "(role IN ('handler', 'institution_admin')) = (institution_id IS NOT NULL)",
            name="institution_role",
        ),
    )

    @validates("email")
    def _lowercase_email(self, key: str, value: str) -> str:
        # One spelling per address, so that the unique blind index means what it says.
        value = value.strip().lower()
        self.email_lookup = email_lookup(value)
        return value

    @classmethod
    def with_email(cls, email: str) -> sa.ColumnElement[bool]:
        """The condition that finds the account of `email` (any case, spaces trimmed)."""
        return cls.email_lookup == email_lookup(email)

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_handler(self) -> bool:
        return self.role == Role.HANDLER


class AccountToken(db.Model):
    """A single-use, expiring link by mail: an invitation or a password reset."""

    __tablename__ = "account_token"

    INVITE = "invite"
    RESET = "reset"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(sa.String(16))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()

    __table_args__ = (sa.CheckConstraint("purpose IN ('invite', 'reset')", name="purpose"),)


class LoginFailure(db.Model):
    """Failed logins of one account from one address (an IPv4 address or an IPv6 /64),
    and until when that address must wait before its next try is even checked.

    The address is kept only as a keyed hash; the row goes at a successful login from
    it, and after a day without failures.
    """

    __tablename__ = "login_failure"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    address_hash: Mapped[str] = mapped_column(sa.String(64))
    failures: Mapped[int] = mapped_column(default=0)
    last_failed_at: Mapped[datetime] = mapped_column(default=utcnow)
    delayed_until: Mapped[datetime | None]

    __table_args__ = (
        sa.UniqueConstraint("user_id", "address_hash", name="uq_login_failure_user_address"),
    )


class RecoveryCode(db.Model):
    """A one-time code for when the authenticator app is lost; only a hash is kept."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    used_at: Mapped[datetime | None]


class ApiToken(db.Model):
    """A monitor's key to the statistics API; only its SHA-256 is stored."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    # Typed by the platform admin, so it may name a person.
    name: Mapped[str] = mapped_column(EncryptedText)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


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


def _local_date(moment: datetime) -> date:
    from .deadlines import local_date

    return local_date(moment)


def deadline_results(case: Case) -> tuple[bool | None, bool | None]:
    """Whether acknowledgement and feedback came on or before their (local) due dates."""
    ack = None
    if case.acknowledged_at is not None and case.ack_due_on is not None:
        ack = _local_date(case.acknowledged_at) <= case.ack_due_on
    feedback = None
    if case.feedback_at is not None and case.feedback_due_on is not None:
        feedback = _local_date(case.feedback_at) <= case.feedback_due_on
    return ack, feedback


def whole_days(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return math.floor((end - start).total_seconds() / 86400)


def month_number(day: date) -> int:
    """A month as the statistics store it: 2025-03 is 202503."""
    return day.year * 100 + day.month


@sa.event.listens_for(Session, "before_flush", propagate=True)
def _record_deadline_results(session, flush_context, instances) -> None:
    for obj in (*session.new, *session.dirty):
        if isinstance(obj, Case):
            if obj.submitted_at is None:
                obj.submitted_at = utcnow()
            obj.submitted_month = month_number(_local_date(obj.submitted_at))
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
    case_id: Mapped[int] = mapped_column(
        sa.ForeignKey("report_case.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]

    case: Mapped[Case] = relationship()


class CaseGround(db.Model):
    """A ground of discrimination named in a report; a report may name several."""

    __tablename__ = "case_ground"

    case_id: Mapped[int] = mapped_column(
        sa.ForeignKey("report_case.id", ondelete="CASCADE"), primary_key=True
    )
    ground: Mapped[str] = mapped_column(sa.String(24), primary_key=True)

    __table_args__ = (_one_of("ground", GROUNDS),)


class CaseWish(db.Model):
    """What the student wants to happen; several may apply."""

    __tablename__ = "case_wish"

    case_id: Mapped[int] = mapped_column(
        sa.ForeignKey("report_case.id", ondelete="CASCADE"), primary_key=True
    )
    wish: Mapped[str] = mapped_column(sa.String(24), primary_key=True)

    __table_args__ = (_one_of("wish", WISHES),)


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
    attachments: Mapped[list[Attachment]] = relationship(order_by="Attachment.id", viewonly=True)

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

    attachments: Mapped[list[Attachment]] = relationship(secondary="outbox_attachment")

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


class CaseConsent(db.Model):
    """One consent given or withdrawn: what, when, and how the student gave it."""

    __tablename__ = "case_consent"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(
        sa.ForeignKey("report_case.id", ondelete="CASCADE"), index=True
    )
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
    """An evidence file, stored encrypted on disk under a server-chosen name.

    Until the form it came with is sent, an upload is pending: it belongs to no
    case and is found only by its random token (the form carries it in a hidden
    field, so that a form shown again keeps its files). A pending upload sent
    towards an existing case names it in `pending_case_id`, so that it counts
    against that case's room from the moment it is stored. `cleaned` is false
    while an upload has passed only the cheap checks (its form was not yet valid).
    """

    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("report_case.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("case_message.id", ondelete="SET NULL")
    )
    token: Mapped[str] = mapped_column(sa.String(64), unique=True)
    storage_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    original_name: Mapped[str] = mapped_column(EncryptedText)
    kind: Mapped[str] = mapped_column(sa.String(8))
    size: Mapped[int]
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    pending_case_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("report_case.id", ondelete="CASCADE"), index=True
    )
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


referral_attachment = sa.Table(
    "referral_attachment",
    db.metadata,
    sa.Column("referral_id", sa.ForeignKey("referral.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "attachment_id", sa.ForeignKey("attachment.id", ondelete="CASCADE"), primary_key=True
    ),
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

outbox_attachment = sa.Table(
    "outbox_attachment",
    db.metadata,
    sa.Column(
        "outbox_mail_id", sa.ForeignKey("outbox_mail.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "attachment_id", sa.ForeignKey("attachment.id", ondelete="CASCADE"), primary_key=True
    ),
)


class Referral(db.Model):
    """A case handed to an ADV: which, when, what was shared, and the ADV's answer."""

    __tablename__ = "referral"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(
        sa.ForeignKey("report_case.id", ondelete="CASCADE"), index=True
    )
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
    changed_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)

    company: Mapped[Company] = relationship(back_populates="recognition_history")
    changed_by: Mapped[User] = relationship()


class RollupRow(db.Model):
    """One row of the statistics' monthly rollup: how many reports of one month (and one
    institution, or the whole sector) fall in one cell of a table shape, and the sum of
    their record keys, from which the cell's noise follows (disclosure.py).

    `statistics.publish` rebuilds the rollup from the cases off the request path (cron,
    daily); every table served is a sum of its rows over the months of a closed period.
    The rows are aggregates: no case id, no text. Count rows of one-way shapes also carry
    the deadline counts of their reports (met and due, each with its key sum); histogram
    rows (`kind` ack_days or close_days) count the reports per whole day of handling.
    """

    __tablename__ = "statistics_rollup"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
    )
    month: Mapped[int]
    institution_id: Mapped[int | None] = mapped_column(sa.ForeignKey("institution.id"))
    shape: Mapped[str] = mapped_column(sa.String(40))  # "", "phase", "phase/ground"
    first: Mapped[str] = mapped_column(sa.String(32), default="")
    second: Mapped[str] = mapped_column(sa.String(32), default="")
    kind: Mapped[str] = mapped_column(sa.String(12), default="count")
    days: Mapped[int | None]
    n: Mapped[int]
    key_sum: Mapped[int] = mapped_column(sa.BigInteger)
    ack_met_n: Mapped[int | None]
    ack_met_key: Mapped[int | None] = mapped_column(sa.BigInteger)
    ack_due_n: Mapped[int | None]
    ack_due_key: Mapped[int | None] = mapped_column(sa.BigInteger)
    feedback_met_n: Mapped[int | None]
    feedback_met_key: Mapped[int | None] = mapped_column(sa.BigInteger)
    feedback_due_n: Mapped[int | None]
    feedback_due_key: Mapped[int | None] = mapped_column(sa.BigInteger)

    __table_args__ = (sa.Index("ix_statistics_rollup_shape_kind_month", "shape", "kind", "month"),)


class StatisticsPublication(db.Model):
    """When the rollup was last built: the figures every statistics page shows are as of then."""

    __tablename__ = "statistics_publication"

    id: Mapped[int] = mapped_column(primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    rows: Mapped[int] = mapped_column(default=0)
