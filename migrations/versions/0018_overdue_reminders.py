"""An overdue case is watched until someone acts (issue 15): each institution says how
often its handlers are reminded again (every 2 working days by default) and from how
many working days overdue its admins are told as well (5); a case keeps the day of its
last such reminder.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 20:10:00.000000

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0018'
down_revision: str | Sequence[str] | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('institution', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('overdue_repeat_days', sa.Integer(), server_default='2', nullable=False)
        )
        batch_op.add_column(
            sa.Column('overdue_admin_days', sa.Integer(), server_default='5', nullable=False)
        )
        batch_op.create_check_constraint(
            'overdue_repeat_days', 'overdue_repeat_days BETWEEN 1 AND 10'
        )
        batch_op.create_check_constraint('overdue_admin_days', 'overdue_admin_days BETWEEN 1 AND 30')
    with op.batch_alter_table('report_case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('overdue_reminded_on', sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('report_case', schema=None) as batch_op:
        batch_op.drop_column('overdue_reminded_on')
    with op.batch_alter_table('institution', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_institution_overdue_admin_days'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_institution_overdue_repeat_days'), type_='check')
        batch_op.drop_column('overdue_admin_days')
        batch_op.drop_column('overdue_repeat_days')
