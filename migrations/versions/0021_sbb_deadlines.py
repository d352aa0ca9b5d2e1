"""SBB's own work has deadlines (issue 15): an investigation is to be started within a
number of working days of receiving it, and decided within a number of months of
starting; SBB is reminded before and while overdue.

Existing investigations get their dates here, counted from when they were received and
started with the defaults (10 working days, 3 months). Working days are counted as
weekdays: this revision does not know the holidays the application's calendar skips, so
a date may come a day or two earlier than the application would set it.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 20:40:00.000000

"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0021'
down_revision: str | Sequence[str] | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

START_WORKING_DAYS = 10
DECIDE_MONTHS = 3


def _weekdays_after(day: date, count: int) -> date:
    while count:
        day += timedelta(days=1)
        count -= day.weekday() < 5
    return day


def _months_after(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _as_date(value) -> date:
    if isinstance(value, str):  # SQLite hands back text
        value = datetime.fromisoformat(value)
    return value.date() if isinstance(value, datetime) else value


def upgrade() -> None:
    with op.batch_alter_table('investigation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('start_due_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('decide_due_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('deadline_reminded_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('overdue_reminded_on', sa.Date(), nullable=True))
    table = sa.table(
        'investigation',
        sa.column('id'),
        sa.column('created_at'),
        sa.column('started_at'),
        sa.column('start_due_on'),
        sa.column('decide_due_on'),
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(table.c.id, table.c.created_at, table.c.started_at)).all()
    for row in rows:
        values = {'start_due_on': _weekdays_after(_as_date(row.created_at), START_WORKING_DAYS)}
        if row.started_at is not None:
            values['decide_due_on'] = _months_after(_as_date(row.started_at), DECIDE_MONTHS)
        conn.execute(sa.update(table).where(table.c.id == row.id).values(**values))


def downgrade() -> None:
    with op.batch_alter_table('investigation', schema=None) as batch_op:
        batch_op.drop_column('overdue_reminded_on')
        batch_op.drop_column('deadline_reminded_at')
        batch_op.drop_column('decide_due_on')
        batch_op.drop_column('start_due_on')
