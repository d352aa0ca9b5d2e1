"""Staff e-mail addresses and names encrypted (issue 13), the address found by a blind index.

- `user_account.email` and `user_account.name` become text columns of Fernet tokens
  (stagepact.crypto.EncryptedText), encrypted with the first of the app's ENCRYPTION_KEYS.
- `user_account.email_lookup` holds the keyed HMAC-SHA256 of the normalised address
  (stagepact.crypto.email_lookup, key derived from RECEIPT_PEPPER) and carries the unique
  constraint the address had.

env.py passes the keys and the pepper in `config.attributes`. Downgrade decrypts again and
puts the unique constraint back on the address.

Revision ID: 0015
Revises: 0014
"""

import hashlib
import hmac

import sqlalchemy as sa
from alembic import context, op
from cryptography.fernet import Fernet, MultiFernet

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def _fernet() -> MultiFernet:
    keys = context.config.attributes.get('encryption_keys')
    if not keys:
        raise RuntimeError('0015 needs the encryption keys: run it through migrations/env.py')
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _lookup(email: str) -> str:
    # The same as stagepact.crypto.email_lookup at this revision.
    pepper = context.config.attributes.get('receipt_pepper')
    if not pepper:
        raise RuntimeError('0015 needs RECEIPT_PEPPER: run it through migrations/env.py')
    key = hmac.new(pepper.encode('utf-8'), b'stagepact e-mail lookup', hashlib.sha256).digest()
    return hmac.new(key, email.strip().lower().encode('utf-8'), hashlib.sha256).hexdigest()


def _table():
    return sa.table(
        'user_account',
        sa.column('id', sa.Integer()),
        sa.column('email', sa.Text()),
        sa.column('name', sa.Text()),
        sa.column('email_lookup', sa.String(64)),
    )


def _rows():
    if context.is_offline_mode():
        raise RuntimeError('0015 rewrites existing rows, which needs a database connection')
    table = _table()
    return op.get_bind().execute(sa.select(table.c.id, table.c.email, table.c.name)).all()


def upgrade() -> None:
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_lookup', sa.String(length=64), nullable=True))
        batch_op.drop_constraint('uq_user_account_email', type_='unique')
        batch_op.alter_column('email', existing_type=sa.String(length=254), type_=sa.Text())
        batch_op.alter_column('name', existing_type=sa.String(length=200), type_=sa.Text())
    fernet = _fernet()
    table = _table()
    bind = op.get_bind()
    for row_id, email, name in _rows():
        bind.execute(
            sa.update(table)
            .where(table.c.id == row_id)
            .values(
                email=fernet.encrypt(email.encode('utf-8')).decode('ascii'),
                name=fernet.encrypt(name.encode('utf-8')).decode('ascii'),
                email_lookup=_lookup(email),
            )
        )
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.alter_column('email_lookup', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(
            batch_op.f('uq_user_account_email_lookup'), ['email_lookup']
        )


def downgrade() -> None:
    fernet = _fernet()
    table = _table()
    bind = op.get_bind()
    for row_id, email, name in _rows():
        bind.execute(
            sa.update(table)
            .where(table.c.id == row_id)
            .values(
                email=fernet.decrypt(email.encode('ascii')).decode('utf-8')[:254],
                name=fernet.decrypt(name.encode('ascii')).decode('utf-8')[:200],
            )
        )
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_user_account_email_lookup'), type_='unique')
        batch_op.alter_column('name', existing_type=sa.Text(), type_=sa.String(length=200))
        batch_op.alter_column('email', existing_type=sa.Text(), type_=sa.String(length=254))
        batch_op.create_unique_constraint('uq_user_account_email', ['email'])
        batch_op.drop_column('email_lookup')
