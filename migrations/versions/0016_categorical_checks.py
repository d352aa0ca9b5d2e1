"""The categorical columns that were bare strings hold only their vocabulary's codes
(issue 14): a CHECK constraint on the report's reporter role, contact preference, phase,
who and form, on each ground and wish, and on what an escalation shared with SBB.

Before adding them, the migration looks for values outside the vocabulary and, when it
finds any, stops with a list of (table, column, value, rows) and changes nothing: such a
value needs a decision (which code it meant), not a guess. The codes are those of this
revision, spelled here, so that a later change of vocabulary needs its own revision.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 17:00:00.000000

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0016'
down_revision: str | Sequence[str] | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PHASES = ('application', 'internship', 'school', 'other')
FORMS = ('refused', 'remark', 'unequal', 'harassment', 'sexual', 'violence', 'ended', 'other')
# table -> (column, codes, nullable)
CHECKS = {
    'report_case': [
        ('reporter_role', ('self', 'witness'), False),
        ('contact_preference', ('none', 'email', 'phone', 'in_person'), False),
        ('phase', PHASES, True),
        ('who', ('company', 'trainer', 'colleague', 'client', 'school_staff', 'other'), True),
        ('form', FORMS, True),
    ],
    'case_ground': [
        (
            'ground',
            (
                'origin', 'religion', 'disability', 'gender', 'orientation', 'age',
                'nationality', 'pregnancy', 'education_level', 'appearance', 'name',
                'language', 'other', 'unknown',
            ),
            False,
        ),
    ],
    'case_wish': [
        (
            'wish',
            ('register', 'conversation', 'new_placement', 'address_company', 'adv', 'sbb'),
            False,
        ),
    ],
    'investigation': [('shared_phase', PHASES, True), ('shared_form', FORMS, True)],
}


class ValuesOutsideVocabulary(RuntimeError):
    pass


def _condition(column: str, codes: tuple[str, ...], nullable: bool) -> str:
    condition = f"{column} IN ({', '.join(repr(code) for code in codes)})"
    return f"{column} IS NULL OR {condition}" if nullable else condition


def outside_vocabulary(connection) -> list[tuple[str, str, str, int]]:
    """(table, column, value, rows) for every value no constraint below would allow."""
    found = []
    for table, checks in CHECKS.items():
        for column, codes, _nullable in checks:
            rows = connection.execute(
                sa.select(sa.column(column), sa.func.count())
                .select_from(sa.table(table))
                .where(sa.column(column).is_not(None), sa.column(column).not_in(codes))
                .group_by(sa.column(column))
                .order_by(sa.column(column))
            ).all()
            found += [(table, column, value, count) for value, count in rows]
    return found


def upgrade() -> None:
    bad = outside_vocabulary(op.get_bind())
    if bad:
        listed = '; '.join(f'{t}.{c} = {v!r} ({n} rows)' for t, c, v, n in bad)
        raise ValuesOutsideVocabulary(
            f'{len(bad)} value(s) outside the vocabulary, nothing changed: {listed}. '
            'Correct them to a code of stagepact/vocab.py and run the upgrade again.'
        )
    for table, checks in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, codes, nullable in checks:
                batch_op.create_check_constraint(column, _condition(column, codes, nullable))


def downgrade() -> None:
    for table, checks in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, _codes, _nullable in checks:
                batch_op.drop_constraint(batch_op.f(f'ck_{table}_{column}'), type_='check')
