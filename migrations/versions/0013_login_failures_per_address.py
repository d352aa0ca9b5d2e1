"""Failed logins counted per account and address, not per account.

A stranger's wrong passwords made the account itself wait, so anyone could lock out
anyone. The wait now belongs to the (account, address) pair in `login_failure`; the
account keeps only its failure count and when its owner was last mailed about failures.
Waits in progress are dropped: they belonged to the old rule.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 12:30:00.000000

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0013'
down_revision: str | Sequence[str] | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('login_failure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('address_hash', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failed_at', sa.DateTime(), nullable=False),
    sa.Column('delayed_until', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_login_failure_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failure')),
    sa.UniqueConstraint('user_id', 'address_hash', name='uq_login_failure_user_address')
    )
    with op.batch_alter_table('login_failure', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_failure_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failure_notice_at', sa.DateTime(), nullable=True))
        batch_op.drop_column('login_delayed_until')


def downgrade() -> None:
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('login_delayed_until', sa.DateTime(), nullable=True))
        batch_op.drop_column('failure_notice_at')

    with op.batch_alter_table('login_failure', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_failure_user_id'))

    op.drop_table('login_failure')
