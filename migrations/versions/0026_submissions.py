"""A report form is accepted once, server-side (issue 16): `submission` keeps a hash of
each accepted form's submission id with its case, so that the same form sent again (a
reload, a retry after a dropped connection or a database that was briefly away) opens
no second case, and shows the same receipt code to the same browser for two hours.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 23:50:00.000000

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0026'
down_revision: str | Sequence[str] | None = '0025'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'submission',
        sa.Column('id_hash', sa.String(length=64), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('browser_hash', sa.String(length=64), nullable=False),
        sa.Column('receipt_code', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ['case_id'],
            ['report_case.id'],
            name=op.f('fk_submission_case_id_report_case'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_submission')),
    )
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_submission_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_submission_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_submission_created_at'))
        batch_op.drop_index(batch_op.f('ix_submission_case_id'))
    op.drop_table('submission')
