"""The installation remembers what its secrets must match (issue 16): a keyed hash
under RECEIPT_PEPPER and a fixed text encrypted like every personal field. The app
refuses to start with another pepper, or without a key that reads the data.

The row itself is written by the first start after this migration, with the secrets
that start runs with (`stagepact.preflight`), since a migration should not need them.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 22:40:00.000000

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0024'
down_revision: str | Sequence[str] | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'secret_check',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('pepper_check', sa.String(length=64), nullable=False),
        sa.Column('key_check', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint('id = 1', name=op.f('ck_secret_check_one_row')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_secret_check')),
    )


def downgrade() -> None:
    op.drop_table('secret_check')
