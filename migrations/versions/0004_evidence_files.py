"""Evidence files: attachments of cases and messages, and what went to the ADV, SBB and mail.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 21:46:41.197721

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: str | Sequence[str] | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('attachment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('storage_key', sa.String(length=64), nullable=False),
    sa.Column('original_name', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('pdf', 'png', 'jpeg', 'docx', 'txt', 'eml')", name=op.f('ck_attachment_kind')),
    sa.ForeignKeyConstraint(['case_id'], ['report_case.id'], name=op.f('fk_attachment_case_id_report_case'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_id'], ['case_message.id'], name=op.f('fk_attachment_message_id_case_message'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['user_account.id'], name=op.f('fk_attachment_uploaded_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attachment')),
    sa.UniqueConstraint('storage_key', name=op.f('uq_attachment_storage_key')),
    sa.UniqueConstraint('token', name=op.f('uq_attachment_token'))
    )
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attachment_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_attachment_pending', ['case_id', 'created_at'], unique=False)

    op.create_table('investigation_attachment',
    sa.Column('investigation_id', sa.Integer(), nullable=False),
    sa.Column('attachment_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['attachment_id'], ['attachment.id'], name=op.f('fk_investigation_attachment_attachment_id_attachment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['investigation_id'], ['investigation.id'], name=op.f('fk_investigation_attachment_investigation_id_investigation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('investigation_id', 'attachment_id', name=op.f('pk_investigation_attachment'))
    )
    op.create_table('outbox_attachment',
    sa.Column('outbox_mail_id', sa.Integer(), nullable=False),
    sa.Column('attachment_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['attachment_id'], ['attachment.id'], name=op.f('fk_outbox_attachment_attachment_id_attachment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['outbox_mail_id'], ['outbox_mail.id'], name=op.f('fk_outbox_attachment_outbox_mail_id_outbox_mail'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('outbox_mail_id', 'attachment_id', name=op.f('pk_outbox_attachment'))
    )
    op.create_table('referral_attachment',
    sa.Column('referral_id', sa.Integer(), nullable=False),
    sa.Column('attachment_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['attachment_id'], ['attachment.id'], name=op.f('fk_referral_attachment_attachment_id_attachment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['referral_id'], ['referral.id'], name=op.f('fk_referral_attachment_referral_id_referral'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('referral_id', 'attachment_id', name=op.f('pk_referral_attachment'))
    )


def downgrade() -> None:
    op.drop_table('referral_attachment')
    op.drop_table('outbox_attachment')
    op.drop_table('investigation_attachment')
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.drop_index('ix_attachment_pending')
        batch_op.drop_index(batch_op.f('ix_attachment_case_id'))

    op.drop_table('attachment')
