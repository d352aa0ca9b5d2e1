"""The hash-chained audit trail: its events and the head that orders them (see
`stagepact.audit`)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import utcnow


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
