"""Handling days kept with the case: whole days from submission to acknowledgement and to
closing, for the medians of the statistics; existing cases are filled in.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 22:19:55.609687

"""

from __future__ import annotations

import math
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0008'
down_revision: str | Sequence[str] | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _days(start, end):
    if start is None or end is None:
        return None
    return math.floor((end - start).total_seconds() / 86400)


def upgrade() -> None:
    with op.batch_alter_table('report_case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ack_days', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('close_days', sa.Integer(), nullable=True))

    cases = sa.table(
        'report_case',
        sa.column('id', sa.Integer),
        sa.column('submitted_at', sa.DateTime),
        sa.column('acknowledged_at', sa.DateTime),
        sa.column('closed_at', sa.DateTime),
        sa.column('ack_days', sa.Integer),
        sa.column('close_days', sa.Integer),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(cases.c.id, cases.c.submitted_at, cases.c.acknowledged_at, cases.c.closed_at)
    ).all()
    for row in rows:
        connection.execute(
            cases.update()
            .where(cases.c.id == row.id)
            .values(
                ack_days=_days(row.submitted_at, row.acknowledged_at),
                close_days=_days(row.submitted_at, row.closed_at),
            )
        )



def downgrade() -> None:
    with op.batch_alter_table('report_case', schema=None) as batch_op:
        batch_op.drop_column('close_days')
        batch_op.drop_column('ack_days')

