"""What SBB may count about reports across institutions: numbers, never content.

A company is a signal when reports from at least two institutions named it in
the last 24 months: a pattern no single school can see. Everything here is
answered by SQL aggregation over the case table (index `ix_report_case_company`),
never by loading reports into Python, and returns counts only: no case id,
number, text or institution name leaves this module.

Duplicates (the same report twice) and withdrawn reports do not count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from .deadlines import add_months, start_of_local_day
from .deadlines import today as local_today
from .extensions import db
from .models import Case, CaseGround, Company, Investigation
from .vocab import InvestigationStatus, Outcome

SIGNAL_MIN_INSTITUTIONS = 2
SIGNAL_MONTHS = 24


def window_start(today: date | None = None) -> datetime:
    """The first moment that counts for signals: 24 months before today, local time."""
    return start_of_local_day(add_months(today or local_today(), -SIGNAL_MONTHS))


def counted_reports():
    """The condition for a report that counts: not a duplicate, not withdrawn."""
    return sa.or_(
        Case.outcome.is_(None), Case.outcome.not_in([Outcome.DUPLICATE, Outcome.WITHDRAWN])
    )


def _open_investigation(company_id_column):
    return (
        sa.select(Investigation.id)
        .where(
            Investigation.company_id == company_id_column,
            Investigation.status != InvestigationStatus.CLOSED,
        )
        .limit(1)
        .scalar_subquery()
    )


@dataclass(frozen=True)
class Signal:
    company: Company
    institutions: int
    reports: int
    latest: datetime
    open_investigation_id: int | None


def signals_query(today: date | None = None) -> sa.Select:
    """Companies named by reports of two or more institutions within the window.

    Two plain GROUP BYs (per company and institution, then per company) rather
    than COUNT(DISTINCT), which both databases can hash instead of sort.
    """
    per_institution = (
        sa.select(
            Case.company_id.label("company_id"),
            sa.func.count().label("reports"),
            sa.func.max(Case.submitted_at).label("latest"),
        )
        .where(
            Case.company_id.is_not(None),
            Case.submitted_at >= window_start(today),
            counted_reports(),
        )
        .group_by(Case.company_id, Case.institution_id)
        .subquery()
    )
    institutions = sa.func.count()
    per_company = (
        sa.select(
            per_institution.c.company_id,
            institutions.label("institutions"),
            sa.func.sum(per_institution.c.reports).label("reports"),
            sa.func.max(per_institution.c.latest).label("latest"),
        )
        .group_by(per_institution.c.company_id)
        .having(institutions >= SIGNAL_MIN_INSTITUTIONS)
        .subquery()
    )
    return (
        sa.select(
            Company,
            per_company.c.institutions,
            per_company.c.reports,
            per_company.c.latest,
            _open_investigation(per_company.c.company_id).label("open_investigation_id"),
        )
        .join(per_company, Company.id == per_company.c.company_id)
        .order_by(
            per_company.c.institutions.desc(),
            per_company.c.reports.desc(),
            per_company.c.latest.desc(),
            Company.id,
        )
    )


def signals(
    page: int = 1, per_page: int = 25, today: date | None = None
) -> tuple[list[Signal], int]:
    """One page of signals and the number of signals in all, from one aggregation."""
    query = signals_query(today)
    rows = db.session.execute(
        query.add_columns(sa.func.count().over().label("total"))
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    if rows:
        total = rows[0].total
    else:  # a page past the end: count on its own
        total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    return [Signal(*row[:-1]) for row in rows], total


def is_signal(company_id: int, today: date | None = None) -> bool:
    institutions = db.session.scalar(
        sa.select(sa.func.count(sa.distinct(Case.institution_id))).where(
            Case.company_id == company_id,
            Case.submitted_at >= window_start(today),
            counted_reports(),
        )
    )
    return institutions >= SIGNAL_MIN_INSTITUTIONS


@dataclass(frozen=True)
class CompanyCounts:
    """Reports naming one company per year: in all, from how many institutions, per ground."""

    years: list[int]
    reports: dict[int, int]
    institutions: dict[int, int]
    grounds: dict[str, dict[int, int]]


def local_year(column, first: int, last: int):
    """The Dutch calendar year of a stored UTC moment between `first` and `last`, in SQL."""
    return sa.case(
        *[(column < start_of_local_day(date(y + 1, 1, 1)), y) for y in range(first, last)],
        else_=last,
    )


def company_counts(company_id: int) -> CompanyCounts:
    span = db.session.execute(
        sa.select(sa.func.min(Case.submitted_at), sa.func.max(Case.submitted_at)).where(
            Case.company_id == company_id
        )
    ).one()
    if span[0] is None:
        return CompanyCounts(years=[], reports={}, institutions={}, grounds={})
    # A moment late on 31 December (UTC) may fall in the next Dutch year.
    year = local_year(Case.submitted_at, span[0].year, span[1].year + 1)
    totals = db.session.execute(
        sa.select(
            year.label("year"),
            sa.func.count().label("reports"),
            sa.func.count(sa.distinct(Case.institution_id)).label("institutions"),
        )
        .where(Case.company_id == company_id, counted_reports())
        .group_by(year)
    ).all()
    per_ground = db.session.execute(
        sa.select(year.label("year"), CaseGround.ground, sa.func.count())
        .join(CaseGround, CaseGround.case_id == Case.id)
        .where(Case.company_id == company_id, counted_reports())
        .group_by(year, CaseGround.ground)
    ).all()
    grounds: dict[str, dict[int, int]] = {}
    for y, ground, n in per_ground:
        grounds.setdefault(ground, {})[int(y)] = n
    return CompanyCounts(
        years=sorted((int(r.year) for r in totals), reverse=True),
        reports={int(r.year): r.reports for r in totals},
        institutions={int(r.year): r.institutions for r in totals},
        grounds=grounds,
    )


def report_counts(company_ids: list[int]) -> dict[int, int]:
    """Reports (all years) naming each of the given companies, for the register list."""
    if not company_ids:
        return {}
    rows = db.session.execute(
        sa.select(Case.company_id, sa.func.count())
        .where(Case.company_id.in_(company_ids), counted_reports())
        .group_by(Case.company_id)
    ).all()
    return dict(rows)
