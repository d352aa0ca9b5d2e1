"""What every model module shares: the clock, the vocabulary columns and the day counts."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import sqlalchemy as sa


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


def whole_days(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return math.floor((end - start).total_seconds() / 86400)


def month_number(day: date) -> int:
    """A month as the statistics store it: 2025-03 is 202503."""
    return day.year * 100 + day.month
