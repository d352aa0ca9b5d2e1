"""Dates SBB sets act when they come (issue 15): an investigation records when its
suspension's end was applied and when SBB was reminded that the improvement agreements
fell due; a recognition change the system made (a suspension ending) has no user.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 20:30:00.000000

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0020'
down_revision: str | Sequence[str] | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('investigation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('suspension_ended_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('conditions_reminded_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('recognition_change', schema=None) as batch_op:
        batch_op.alter_column('changed_by_id', existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.scalar(sa.text('SELECT count(*) FROM recognition_change WHERE changed_by_id IS NULL')):
        raise RuntimeError(
            'recognition_change holds changes the system made (changed_by_id NULL); '
            'revision 0019 cannot hold them'
        )
    with op.batch_alter_table('recognition_change', schema=None) as batch_op:
        batch_op.alter_column('changed_by_id', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('investigation', schema=None) as batch_op:
        batch_op.drop_column('conditions_reminded_at')
        batch_op.drop_column('suspension_ended_at')
