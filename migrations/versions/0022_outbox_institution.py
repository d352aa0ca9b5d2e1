"""A mail to an institution's staff names that institution (issue 15), so that when it
cannot be delivered, the institution's admins are told.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 20:50:00.000000

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0022'
down_revision: str | Sequence[str] | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox_mail', schema=None) as batch_op:
        batch_op.add_column(sa.Column('institution_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_outbox_mail_institution_id_institution'),
            'institution',
            ['institution_id'],
            ['id'],
            ondelete='SET NULL',
        )


def downgrade() -> None:
    with op.batch_alter_table('outbox_mail', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_outbox_mail_institution_id_institution'), type_='foreignkey'
        )
        batch_op.drop_column('institution_id')
