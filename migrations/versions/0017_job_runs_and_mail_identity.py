"""Scheduled work is watched (issue 15): each job's last run, outcome and lease in
`job_run`; each queued mail keeps one Message-ID over all its attempts, and a mail
that is refused for good or fails for too long is given up.

Mail already queued gets its Message-ID when it is next tried.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 20:00:00.000000

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0017'
down_revision: str | Sequence[str] | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'job_run',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('held_until', sa.DateTime(), nullable=True),
        sa.Column('started_at', sa.DateTime(), nullable=True),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.Column('outcome', sa.String(length=16), nullable=True),
        sa.Column('detail', sa.String(length=300), nullable=False),
        sa.Column('succeeded_at', sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('ok', 'failed')",
            name=op.f('ck_job_run_outcome'),
        ),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_job_run')),
    )
    with op.batch_alter_table('outbox_mail', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_id', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('given_up_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox_mail', schema=None) as batch_op:
        batch_op.drop_column('given_up_at')
        batch_op.drop_column('message_id')
    op.drop_table('job_run')
