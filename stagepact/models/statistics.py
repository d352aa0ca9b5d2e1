"""The statistics' monthly rollup and its publications (see `stagepact.statistics`)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import utcnow


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
