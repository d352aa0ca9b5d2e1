"""When the student withdrew a report whose investigation SBB still had open.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 01:14:01.817461

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0010'
down_revision: str | Sequence[str] | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('investigation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('case_withdrawn_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('investigation', schema=None) as batch_op:
        batch_op.drop_column('case_withdrawn_at')
