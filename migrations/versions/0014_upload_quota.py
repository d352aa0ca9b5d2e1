"""Uploads bounded (issue 13): a pending upload names the case it was sent towards, so
that it counts against that case's room, and says whether it has been cleaned yet.

Existing uploads were all cleaned when they were stored.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 12:30:00.000000

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0014'
down_revision: str | Sequence[str] | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending_case_id', sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column('cleaned', sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.create_index(
            batch_op.f('ix_attachment_pending_case_id'), ['pending_case_id'], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_attachment_pending_case_id_report_case'),
            'report_case',
            ['pending_case_id'],
            ['id'],
            ondelete='CASCADE',
        )


def downgrade() -> None:
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_attachment_pending_case_id_report_case'), type_='foreignkey'
        )
        batch_op.drop_index(batch_op.f('ix_attachment_pending_case_id'))
        batch_op.drop_column('cleaned')
        batch_op.drop_column('pending_case_id')
