"""ADV referral, consents, SBB investigations and recognition history.

Existing cases get `consent_sbb` from their identity consent (sharing the
identity with SBB implied sharing the report), and one `case_consent` row per
consent they already hold, dated at submission.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 21:17:27.501769

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "investigation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column(
            "origin",
            sa.Enum(
                "escalation",
                "signal",
                name="investigation_origin",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "received",
                "investigating",
                "decided",
                "objection",
                "closed",
                name="investigation_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("institution_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("shared_grounds", sa.String(length=400), nullable=False),
        sa.Column("shared_phase", sa.String(length=16), nullable=True),
        sa.Column("shared_form", sa.String(length=16), nullable=True),
        sa.Column("shared_incident_month", sa.Date(), nullable=True),
        sa.Column("shares_identity", sa.Boolean(), nullable=False),
        sa.Column("student_name", sa.Text(), nullable=True),
        sa.Column("student_email", sa.Text(), nullable=True),
        sa.Column("student_phone", sa.Text(), nullable=True),
        sa.Column(
            "recognition_before",
            sa.Enum(
                "recognised",
                "under_investigation",
                "under_conditions",
                "suspended",
                "revoked",
                name="recognition_before",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column(
            "decision",
            sa.Enum(
                "no_action",
                "conversation",
                "improvement",
                "warning",
                "suspension",
                "revocation",
                name="decision",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("decision_reasoning", sa.Text(), nullable=True),
        sa.Column("conditions", sa.Text(), nullable=True),
        sa.Column("conditions_due_on", sa.Date(), nullable=True),
        sa.Column("suspended_until", sa.Date(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("objection_at", sa.DateTime(), nullable=True),
        sa.Column("objection_upheld", sa.Boolean(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "(origin = 'escalation') = (case_id IS NOT NULL AND institution_id IS NOT NULL)",
            name=op.f("ck_investigation_escalation_has_case"),
        ),
        sa.CheckConstraint(
            "status IN ('received', 'investigating') OR decision IS NOT NULL",
            name=op.f("ck_investigation_decided_has_decision"),
        ),
        sa.CheckConstraint(
            "shares_identity OR (student_name IS NULL AND student_email IS NULL AND student_phone IS NULL)",
            name=op.f("ck_investigation_identity_only_when_shared"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["report_case.id"], name=op.f("fk_investigation_case_id_report_case")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["company.id"], name=op.f("fk_investigation_company_id_company")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_investigation_created_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["user_account.id"],
            name=op.f("fk_investigation_decided_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_investigation_institution_id_institution"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_investigation")),
    )
    with op.batch_alter_table("investigation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_investigation_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_investigation_company_id"), ["company_id"], unique=False
        )
        batch_op.create_index("ix_investigation_queue", ["status", "created_at"], unique=False)

    op.create_table(
        "referral",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("adv_id", sa.Integer(), nullable=False),
        sa.Column("referred_by_id", sa.Integer(), nullable=False),
        sa.Column("referred_at", sa.DateTime(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("shared_contact", sa.Boolean(), nullable=False),
        sa.Column(
            "answer",
            sa.Enum(
                "taken_on",
                "declined",
                "closed",
                name="adv_answer",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("answer_note", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("answered_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["adv_id"], ["adv.id"], name=op.f("fk_referral_adv_id_adv")),
        sa.ForeignKeyConstraint(
            ["answered_by_id"],
            ["user_account.id"],
            name=op.f("fk_referral_answered_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["report_case.id"],
            name=op.f("fk_referral_case_id_report_case"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["referred_by_id"],
            ["user_account.id"],
            name=op.f("fk_referral_referred_by_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral")),
    )
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_referral_case_id"), ["case_id"], unique=False)

    op.create_table(
        "case_consent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "contact",
                "adv",
                "sbb",
                "sbb_identity",
                name="consent_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("given", sa.Boolean(), nullable=False),
        sa.Column(
            "source",
            sa.Enum(
                "form",
                "message",
                "handler",
                name="consent_source",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "source <> 'message' OR message_id IS NOT NULL",
            name=op.f("ck_case_consent_message_source_has_message"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["report_case.id"],
            name=op.f("fk_case_consent_case_id_report_case"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["case_message.id"],
            name=op.f("fk_case_consent_message_id_case_message"),
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["user_account.id"],
            name=op.f("fk_case_consent_recorded_by_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_consent")),
    )
    with op.batch_alter_table("case_consent", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_consent_case_id"), ["case_id"], unique=False)

    op.create_table(
        "investigation_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("investigation_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("from_sbb", sa.Boolean(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["user_account.id"],
            name=op.f("fk_investigation_message_author_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["investigation_id"],
            ["investigation.id"],
            name=op.f("fk_investigation_message_investigation_id_investigation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_investigation_message")),
    )
    with op.batch_alter_table("investigation_message", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_investigation_message_investigation_id"),
            ["investigation_id"],
            unique=False,
        )

    op.create_table(
        "recognition_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("investigation_id", sa.Integer(), nullable=True),
        sa.Column(
            "from_status",
            sa.Enum(
                "recognised",
                "under_investigation",
                "under_conditions",
                "suspended",
                "revoked",
                name="from_recognition",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "to_status",
            sa.Enum(
                "recognised",
                "under_investigation",
                "under_conditions",
                "suspended",
                "revoked",
                name="to_recognition",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("until", sa.Date(), nullable=True),
        sa.Column("changed_by_id", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["changed_by_id"],
            ["user_account.id"],
            name=op.f("fk_recognition_change_changed_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["company.id"], name=op.f("fk_recognition_change_company_id_company")
        ),
        sa.ForeignKeyConstraint(
            ["investigation_id"],
            ["investigation.id"],
            name=op.f("fk_recognition_change_investigation_id_investigation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recognition_change")),
    )
    with op.batch_alter_table("recognition_change", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_recognition_change_company_id"), ["company_id"], unique=False
        )

    with op.batch_alter_table("report_case", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("consent_sbb", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.drop_index(batch_op.f("ix_report_case_company_id"))
        batch_op.create_index(
            "ix_report_case_company",
            ["company_id", "submitted_at", "institution_id", "outcome"],
            unique=False,
        )

    op.execute("UPDATE report_case SET consent_sbb = consent_sbb_identity")
    with op.batch_alter_table("report_case", schema=None) as batch_op:
        batch_op.create_check_constraint(
            "sbb_identity_consent", "NOT consent_sbb_identity OR (consent_sbb AND NOT is_anonymous)"
        )
    for kind in ("contact", "adv", "sbb", "sbb_identity"):
        op.execute(
            "INSERT INTO case_consent (case_id, kind, given, source, recorded_at)"
            f" SELECT id, '{kind}', true,"
            " CASE WHEN channel = 'web' THEN 'form' ELSE 'handler' END, submitted_at"
            f" FROM report_case WHERE consent_{kind}"
        )

    with op.batch_alter_table("company", schema=None) as batch_op:
        batch_op.create_check_constraint(
            "recognition",
            "recognition_status IN ('recognised', 'under_investigation', 'under_conditions',"
            " 'suspended', 'revoked')",
        )


def downgrade() -> None:
    with op.batch_alter_table("company", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_company_recognition"), type_="check")

    with op.batch_alter_table("report_case", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_report_case_sbb_identity_consent"), type_="check")
        batch_op.drop_index("ix_report_case_company")
        batch_op.create_index(batch_op.f("ix_report_case_company_id"), ["company_id"], unique=False)
        batch_op.drop_column("consent_sbb")

    with op.batch_alter_table("recognition_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recognition_change_company_id"))

    op.drop_table("recognition_change")
    with op.batch_alter_table("investigation_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_investigation_message_investigation_id"))

    op.drop_table("investigation_message")
    with op.batch_alter_table("case_consent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_consent_case_id"))

    op.drop_table("case_consent")
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referral_case_id"))

    op.drop_table("referral")
    with op.batch_alter_table("investigation", schema=None) as batch_op:
        batch_op.drop_index("ix_investigation_queue")
        batch_op.drop_index(batch_op.f("ix_investigation_company_id"))
        batch_op.drop_index(batch_op.f("ix_investigation_case_id"))

    op.drop_table("investigation")
