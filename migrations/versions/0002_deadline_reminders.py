"""Deadline reminders: when handlers were reminded of each deadline.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 19:51:44.124982

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('report_case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ack_reminded_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('feedback_reminded_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('report_case', schema=None) as batch_op:
        batch_op.drop_column('feedback_reminded_at')
        batch_op.drop_column('ack_reminded_at')
