"""Private by construction (issue 13): the last typed personal fields encrypted, and the
student's follow-up sessions kept on the server.

- report_case.programme, incident_period and company_text, and api_token.name, become
  text columns of Fernet tokens (stagepact.crypto.EncryptedText); existing values are
  encrypted with the first of the app's ENCRYPTION_KEYS, and decrypted again on
  downgrade (with any of them). env.py passes the keys in `config.attributes`;
  the migration uses cryptography directly, never the application's column type.
- follow_up_session: one row per browser that opened a case with its code; only a
  hash of the cookie's random id is stored.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 13:00:00.000000

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from cryptography.fernet import Fernet, MultiFernet

# revision identifiers, used by Alembic.
revision: str = '0012'
down_revision: str | Sequence[str] | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, the plain type it had before)
ENCRYPTED = (
    ('report_case', 'programme', sa.String(length=200)),
    ('report_case', 'incident_period', sa.String(length=100)),
    ('report_case', 'company_text', sa.String(length=200)),
    ('api_token', 'name', sa.String(length=100)),
)


def _fernet() -> MultiFernet:
    keys = context.config.attributes.get('encryption_keys')
    if not keys:
        raise RuntimeError('0012 needs the encryption keys: run it through migrations/env.py')
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _convert(table_name: str, column_name: str, change) -> None:
    """Rewrite every non-empty value of one column with `change`, row by row."""
    if context.is_offline_mode():
        raise RuntimeError('0012 encrypts existing rows, which needs a database connection')
    bind = op.get_bind()
    table = sa.table(table_name, sa.column('id', sa.Integer()), sa.column(column_name, sa.Text()))
    column = table.c[column_name]
    rows = bind.execute(sa.select(table.c.id, column).where(column.is_not(None))).all()
    for row_id, value in rows:
        bind.execute(sa.update(table).where(table.c.id == row_id).values({column_name: change(value)}))


def upgrade() -> None:
    op.create_table('follow_up_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['report_case.id'], name=op.f('fk_follow_up_session_case_id_report_case'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_follow_up_session')),
    sa.UniqueConstraint('id_hash', name=op.f('uq_follow_up_session_id_hash'))
    )
    with op.batch_alter_table('follow_up_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_follow_up_session_case_id'), ['case_id'], unique=False)

    for table_name, column_name, plain_type in ENCRYPTED:
        with op.batch_alter_table(table_name, schema=None) as batch_op:
            batch_op.alter_column(column_name, existing_type=plain_type, type_=sa.Text())
    fernet = _fernet()
    for table_name, column_name, _plain_type in ENCRYPTED:
        _convert(
            table_name,
            column_name,
            lambda value: fernet.encrypt(value.encode('utf-8')).decode('ascii'),
        )


def downgrade() -> None:
    fernet = _fernet()
    for table_name, column_name, plain_type in ENCRYPTED:
        # Cut to the old width: the forms never allowed more, but a longer value must
        # not stop the downgrade.
        _convert(
            table_name,
            column_name,
            lambda value, width=plain_type.length: fernet.decrypt(value.encode('ascii')).decode('utf-8')[:width],
        )
    for table_name, column_name, plain_type in ENCRYPTED:
        with op.batch_alter_table(table_name, schema=None) as batch_op:
            batch_op.alter_column(column_name, existing_type=sa.Text(), type_=plain_type)

    with op.batch_alter_table('follow_up_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_follow_up_session_case_id'))

    op.drop_table('follow_up_session')
