"""Statistics by the cell-key method: each report's record key and month of submission,
and the monthly rollup the tables are summed from.

Existing reports get a random record key (from `secrets`, as new reports do) and their
month of submission in Dutch time. The rollup starts empty: `flask stagepact
publish-statistics` builds it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 08:00:00.000000

"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0011'
down_revision: str | Sequence[str] | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RECORD_KEY_RANGE = 2**31  # as stagepact.disclosure.RECORD_KEY_RANGE
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
BATCH = 1000


def _month(moment) -> int:
    local = moment.replace(tzinfo=UTC).astimezone(AMSTERDAM)
    return local.year * 100 + local.month


def upgrade() -> None:
    with op.batch_alter_table('report_case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('submitted_month', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('record_key', sa.Integer(), nullable=True))

    cases = sa.table(
        'report_case',
        sa.column('id', sa.Integer),
        sa.column('submitted_at', sa.DateTime),
        sa.column('submitted_month', sa.Integer),
        sa.column('record_key', sa.Integer),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(cases.c.id, cases.c.submitted_at)).all()
    for start in range(0, len(rows), BATCH):
        connection.execute(
            cases.update()
            .where(cases.c.id == sa.bindparam('case_id'))
            .values(submitted_month=sa.bindparam('month'), record_key=sa.bindparam('key')),
            [
                {
                    'case_id': row.id,
                    'month': _month(row.submitted_at),
                    'key': secrets.randbelow(RECORD_KEY_RANGE),
                }
                for row in rows[start : start + BATCH]
            ],
        )

    with op.batch_alter_table('report_case', schema=None) as batch_op:
        batch_op.alter_column('submitted_month', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('record_key', existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(
            batch_op.f('ix_report_case_submitted_month'), ['submitted_month'], unique=False
        )

    op.create_table(
        'statistics_rollup',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('month', sa.Integer(), nullable=False),
        sa.Column('institution_id', sa.Integer(), nullable=True),
        sa.Column('shape', sa.String(length=40), nullable=False),
        sa.Column('first', sa.String(length=32), nullable=False),
        sa.Column('second', sa.String(length=32), nullable=False),
        sa.Column('kind', sa.String(length=12), nullable=False),
        sa.Column('days', sa.Integer(), nullable=True),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.Column('key_sum', sa.BigInteger(), nullable=False),
        sa.Column('ack_met_n', sa.Integer(), nullable=True),
        sa.Column('ack_met_key', sa.BigInteger(), nullable=True),
        sa.Column('ack_due_n', sa.Integer(), nullable=True),
        sa.Column('ack_due_key', sa.BigInteger(), nullable=True),
        sa.Column('feedback_met_n', sa.Integer(), nullable=True),
        sa.Column('feedback_met_key', sa.BigInteger(), nullable=True),
        sa.Column('feedback_due_n', sa.Integer(), nullable=True),
        sa.Column('feedback_due_key', sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ['institution_id'],
            ['institution.id'],
            name=op.f('fk_statistics_rollup_institution_id_institution'),
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_statistics_rollup')),
    )
    op.create_index(
        'ix_statistics_rollup_shape_kind_month', 'statistics_rollup', ['shape', 'kind', 'month'], unique=False
    )
    op.create_table(
        'statistics_publication',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('computed_at', sa.DateTime(), nullable=False),
        sa.Column('rows', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_statistics_publication')),
    )


def downgrade() -> None:
    op.drop_table('statistics_publication')
    op.drop_index('ix_statistics_rollup_shape_kind_month', table_name='statistics_rollup')
    op.drop_table('statistics_rollup')
    with op.batch_alter_table('report_case', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_case_submitted_month'))
        batch_op.drop_column('record_key')
        batch_op.drop_column('submitted_month')
