"""Case numbers are random after the year (issue 13), so the institution's counter goes.

A sequential number ("2026-0042") told a student, SBB or an ADV how many reports the
school had had that year. New cases get a random tail (`workflow.new_case_number`).
Numbers already given stay as they are: students, handlers and mails refer to them.

The downgrade puts the counter back at the number of the institution's cases with an
old-style number of the current year, so that old-style numbering continues after them.
Random numbers have six characters after the year, old ones four, so they cannot clash.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 22:10:00.000000

"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0023'
down_revision: str | Sequence[str] | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('institution', schema=None) as batch_op:
        batch_op.drop_column('case_counter_year')
        batch_op.drop_column('case_counter')


def downgrade() -> None:
    with op.batch_alter_table('institution', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('case_counter', sa.Integer(), nullable=False, server_default='0')
        )
        batch_op.add_column(
            sa.Column('case_counter_year', sa.Integer(), nullable=False, server_default='0')
        )
    year = datetime.now(UTC).year
    institution = sa.table(
        'institution',
        sa.column('id', sa.Integer),
        sa.column('case_counter', sa.Integer),
        sa.column('case_counter_year', sa.Integer),
    )
    case = sa.table(
        'report_case',
        sa.column('institution_id', sa.Integer),
        sa.column('number', sa.String),
    )
    old_style = (
        sa.select(sa.func.count())
        .where(
            case.c.institution_id == institution.c.id,
            case.c.number.like(f'{year}-____'),
        )
        .scalar_subquery()
    )
    op.execute(institution.update().values(case_counter=old_style, case_counter_year=year))
    with op.batch_alter_table('institution', schema=None) as batch_op:
        batch_op.alter_column('case_counter', server_default=None)
        batch_op.alter_column('case_counter_year', server_default=None)
