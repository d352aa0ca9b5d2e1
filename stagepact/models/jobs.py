"""The scheduled jobs' own record: when each last ran, how it ended, and whether a run
holds it now (see `stagepact.jobs`)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import _one_of

JOB_OUTCOMES = ("ok", "failed")


class JobRun(db.Model):
    """One row per job, rewritten by each run. `held_until` is the lease of a run in
    progress: a second run (another cron entry, another node) finds it taken and stops.
    `detail` holds counts and an error's type, never personal data."""

    __tablename__ = "job_run"

    name: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    held_until: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(sa.String(16))
    detail: Mapped[str] = mapped_column(sa.String(300), default="")
    succeeded_at: Mapped[datetime | None]

    __table_args__ = (_one_of("outcome", JOB_OUTCOMES, nullable=True),)
