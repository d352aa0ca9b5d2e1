"""Evidence files move into the database (issue 16), so that every app node serves every
file and one database backup holds everything.

Each file in the folder the app kept them in (ATTACHMENT_DIR, by default
instance/attachments/) is copied as it is, still encrypted, into `attachment_content`;
no key is needed. Before anything changes, every file is looked for: when one is
missing, the migration stops and changes nothing, so that a wrong ATTACHMENT_DIR cannot
cut the rows from their files. Files known to be lost are let go with
`alembic -x allow_missing_files=1 upgrade head`: their rows get no content (a download
then fails, as it did before). The files stay in the folder, so that a failed upgrade
loses nothing: remove the folder once the upgrade has committed (docs/operations.md).

The downgrade writes every file back into that folder under a new random name.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 23:20:00.000000

"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import context, op

# revision identifiers, used by Alembic.
revision: str = '0025'
down_revision: str | Sequence[str] | None = '0024'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

attachment = sa.table(
    'attachment', sa.column('id', sa.Integer), sa.column('storage_key', sa.String)
)
content = sa.table(
    'attachment_content',
    sa.column('attachment_id', sa.Integer),
    sa.column('data', sa.LargeBinary),
)


def _folder() -> Path:
    folder = context.config.attributes.get('attachment_dir')
    if not folder:
        raise RuntimeError("this migration needs the app's ATTACHMENT_DIR (run it through env.py)")
    return Path(folder)


def _missing_allowed() -> bool:
    return context.get_x_argument(as_dictionary=True).get('allow_missing_files') == '1' or bool(
        context.config.attributes.get('allow_missing_files')
    )


def upgrade() -> None:
    bind = op.get_bind()
    folder = _folder()
    rows = bind.execute(sa.select(attachment.c.id, attachment.c.storage_key)).all()
    missing = [row.id for row in rows if not (folder / f'{row.storage_key}.bin').is_file()]
    if missing and not _missing_allowed():
        raise RuntimeError(
            f'0025: {len(missing)} of {len(rows)} evidence files are not in {folder}; nothing '
            'was changed. Set ATTACHMENT_DIR to the folder that holds them, or, for files '
            'known to be lost, run `alembic -x allow_missing_files=1 upgrade head`.'
        )
    op.create_table(
        'attachment_content',
        sa.Column('attachment_id', sa.Integer(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ['attachment_id'],
            ['attachment.id'],
            name=op.f('fk_attachment_content_attachment_id_attachment'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('attachment_id', name=op.f('pk_attachment_content')),
    )
    for row in rows:  # one file in memory at a time
        if row.id in missing:
            continue
        token = (folder / f'{row.storage_key}.bin').read_bytes()
        bind.execute(sa.insert(content).values(attachment_id=row.id, data=token))
    if rows:
        print(
            f'0025: {len(rows) - len(missing)} of {len(rows)} evidence files copied into the '
            f'database from {folder}; {len(missing)} missing.',
            file=sys.stderr,
        )
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_attachment_storage_key'), type_='unique')
        batch_op.drop_column('storage_key')


def downgrade() -> None:
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('storage_key', sa.String(length=64), nullable=True))
    bind = op.get_bind()
    folder = _folder()
    for (attachment_id,) in bind.execute(sa.select(attachment.c.id)).all():
        key = secrets.token_hex(16)
        bind.execute(
            attachment.update().where(attachment.c.id == attachment_id).values(storage_key=key)
        )
        token = bind.execute(
            sa.select(content.c.data).where(content.c.attachment_id == attachment_id)
        ).scalar()
        if token is not None:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = folder / f'{key}.bin'
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, 'wb') as stream:
                stream.write(token)
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.alter_column('storage_key', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_attachment_storage_key'), ['storage_key'])
    op.drop_table('attachment_content')
