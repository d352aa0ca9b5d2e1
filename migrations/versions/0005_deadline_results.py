"""Deadline results kept with the case: whether acknowledgement and feedback were on time.

Existing cases are filled in from their timestamps and due dates (local dates,
Europe/Amsterdam), the rule `stagepact.models.deadline_results` applies from now on.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 21:52:47.169594

"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


AMSTERDAM = ZoneInfo('Europe/Amsterdam')


def _on_time(moment: datetime | None, due: date | None) -> bool | None:
    if moment is None or due is None:
        return None
    return moment.replace(tzinfo=UTC).astimezone(AMSTERDAM).date() <= due


def upgrade() -> None:
    with op.batch_alter_table('report_case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ack_on_time', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('feedback_on_time', sa.Boolean(), nullable=True))

    cases = sa.table(
        'report_case',
        sa.column('id', sa.Integer),
        sa.column('acknowledged_at', sa.DateTime),
        sa.column('ack_due_on', sa.Date),
        sa.column('feedback_at', sa.DateTime),
        sa.column('feedback_due_on', sa.Date),
        sa.column('ack_on_time', sa.Boolean),
        sa.column('feedback_on_time', sa.Boolean),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(
            cases.c.id,
            cases.c.acknowledged_at,
            cases.c.ack_due_on,
            cases.c.feedback_at,
            cases.c.feedback_due_on,
        ).where(sa.or_(cases.c.acknowledged_at.is_not(None), cases.c.feedback_at.is_not(None)))
    ).all()
    for row in rows:
        connection.execute(
            cases.update()
            .where(cases.c.id == row.id)
            .values(
                ack_on_time=_on_time(row.acknowledged_at, row.ack_due_on),
                feedback_on_time=_on_time(row.feedback_at, row.feedback_due_on),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table('report_case', schema=None) as batch_op:
        batch_op.drop_column('feedback_on_time')
        batch_op.drop_column('ack_on_time')

