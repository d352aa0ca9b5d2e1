"""The installation's own record of the secrets its data were made with (see
`stagepact.preflight`)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..crypto import EncryptedText
from ..extensions import db
from .base import utcnow


class SecretCheck(db.Model):
    """One row. `pepper_check` is a keyed hash of a fixed text under RECEIPT_PEPPER: a
    pepper other than the one the receipt codes and e-mail lookups were made with gives
    another value. `key_check` is a fixed text encrypted like every personal field, so that
    `rotate-key` moves it to the new key with the rest: when no configured key reads it, a
    key the data still need is missing. Neither tells anything about the secrets."""

    __tablename__ = "secret_check"

    id: Mapped[int] = mapped_column(primary_key=True)
    pepper_check: Mapped[str] = mapped_column(sa.String(64))
    key_check: Mapped[str] = mapped_column(EncryptedText)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (sa.CheckConstraint("id = 1", name="one_row"),)
