"""The mail outbox: mail queued in the transaction that caused it (see
`stagepact.outbox`)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..crypto import EncryptedText
from ..extensions import db
from .base import utcnow

if TYPE_CHECKING:  # the relationships name their classes as strings
    from .case import Attachment


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
    # The Message-ID every attempt carries, so that a copy a slow server did accept
    # is known as the same mail; set when queued.
    message_id: Mapped[str | None] = mapped_column(sa.String(200))
    # Not tried again: refused for good (5xx) or failing for too long; `last_error` says why.
    given_up_at: Mapped[datetime | None]
    # The institution a mail to its staff is about: when it cannot be delivered, the
    # institution's admins are told (see `notify`).
    institution_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("institution.id", ondelete="SET NULL")
    )

    attachments: Mapped[list[Attachment]] = relationship(secondary="outbox_attachment")

    __table_args__ = (sa.Index("ix_outbox_mail_due", "sent_at", "next_attempt_at"),)


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
