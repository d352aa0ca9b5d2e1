"""The organisations (ADVs, institutions) and the staff accounts in them, with what
signing in needs: tokens by mail, failed logins, recovery codes, API tokens."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.ext.hybrid import hybrid_method
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from ..crypto import EncryptedText, email_lookup
from ..extensions import db
from ..vocab import (
    Role,
)
from .base import _enum, utcnow


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
    # An overdue case: its handlers are reminded again every this many working days, and
    # from this many working days overdue the institution admins hear it too.
    overdue_repeat_days: Mapped[int] = mapped_column(default=2, server_default="2")
    overdue_admin_days: Mapped[int] = mapped_column(default=5, server_default="5")
    # Personal data of a closed case are erased this many months after closing.
    retention_months: Mapped[int] = mapped_column(default=24, server_default="24")
    # Handlers of this institution must use two-factor authentication.
    require_2fa: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    adv: Mapped[Adv | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint("ack_working_days BETWEEN 1 AND 30", name="ack_working_days"),
        sa.CheckConstraint("feedback_months BETWEEN 1 AND 12", name="feedback_months"),
        sa.CheckConstraint("retention_months BETWEEN 1 AND 120", name="retention_months"),
        sa.CheckConstraint("overdue_repeat_days BETWEEN 1 AND 10", name="overdue_repeat_days"),
        sa.CheckConstraint("overdue_admin_days BETWEEN 1 AND 30", name="overdue_admin_days"),
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
    # A handler away (leave, illness) from `away_from` (or now) up to and including
    # `away_until` holds no case alone: reminders go to the colleagues, and the inbox
    # says their cases need a new handler.
    away_from: Mapped[date | None]
    away_until: Mapped[date | None]

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

    @hybrid_method
    def is_away(self, today: date) -> bool:
        return (
            self.away_until is not None
            and self.away_until >= today
            and (self.away_from is None or self.away_from <= today)
        )

    @is_away.expression
    def is_away(cls, today: date):
        return sa.and_(
            cls.away_until.is_not(None),
            cls.away_until >= today,
            sa.or_(cls.away_from.is_(None), cls.away_from <= today),
        )

    def is_present(self, today: date) -> bool:
        """Active and not away: someone who can hold a case today."""
        return self.active and not self.is_away(today)

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
