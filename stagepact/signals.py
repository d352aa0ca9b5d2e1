"""What SBB may know about reports across institutions: a signal, and counts of the
reports whose students consented to SBB, never content.

- A company is a signal when reports from at least two institutions named it in the
  last 24 months: a pattern no single school can see. The signal says only that: no
  number of reports, no date, nothing about the reports themselves.
- SBB counts only reports whose students consented to SBB, per company in all and per
  year, each count protected like the monitors' statistics (`disclosure`: perturbed,
  counts below 5 as "<5"). Every company gets the same years, from the platform's first
  report to this one, so that neither a row nor its absence says a company was named.
  No count per ground: that could point at one student.

Everything here is answered by SQL aggregation over the case table (index
`ix_report_case_company`), never by loading reports into Python: no case id, number,
text or institution name leaves this module. Duplicates (the same report twice) and
withdrawn reports do not count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from . import disclosure
from .deadlines import add_months, start_of_local_day
from .deadlines import today as local_today
from .extensions import db
from .models import Case, Company, Investigation
from .statistics import Cell, threshold
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
    open_investigation_id: int | None


def signals_query(today: date | None = None) -> sa.Select:
    """Companies named by reports of two or more institutions within the window, by name.

    Two plain GROUP BYs (per company and institution, then per company) rather
    than COUNT(DISTINCT), which both databases can hash instead of sort.
    """
    per_institution = (
        sa.select(Case.company_id.label("company_id"))
        .where(
            Case.company_id.is_not(None),
            Case.submitted_at >= window_start(today),
            counted_reports(),
        )
        .group_by(Case.company_id, Case.institution_id)
        .subquery()
    )
    named = (
        sa.select(per_institution.c.company_id)
        .group_by(per_institution.c.company_id)
        .having(sa.func.count() >= SIGNAL_MIN_INSTITUTIONS)
        .subquery()
    )
    return (
        sa.select(Company, _open_investigation(Company.id).label("open_investigation_id"))
        .join(named, Company.id == named.c.company_id)
        .order_by(Company.name, Company.id)
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


def consented_reports():
    """The reports SBB may count: the student consented to SBB, and the report counts."""
    return sa.and_(Case.consent_sbb.is_(True), counted_reports())


def _protected(count: int, key_sum: int) -> Cell:
    value, hidden = disclosure.shown_count(int(count or 0), int(key_sum or 0), threshold())
    return Cell(value, hidden)


@dataclass(frozen=True)
class CompanyCounts:
    """Reports naming one company whose students consented to SBB: per year and in all,
    each protected."""

    years: list[int]
    reports: dict[int, Cell]
    total: Cell


def counted_years(today: date | None = None) -> list[int]:
    """The years SBB's counts cover, newest first: every year from the platform's first
    report to this one, the same for every company, so that a year's row never tells that
    the company was named that year (a "<5" leaves 0 open)."""
    first = db.session.scalar(sa.select(sa.func.min(Case.submitted_month)))
    this_year = (today or local_today()).year
    start = min(int(first) // 100, this_year) if first else this_year
    return list(range(this_year, start - 1, -1))


def company_counts(company_id: int, today: date | None = None) -> CompanyCounts:
    count = [sa.func.count().label("n"), sa.func.sum(Case.record_key).label("keys")]
    mine = sa.and_(Case.company_id == company_id, consented_reports())
    total = db.session.execute(sa.select(*count).where(mine)).one()
    year = Case.submitted_month / 100
    per_year = {
        int(r.year): r
        for r in db.session.execute(
            sa.select(sa.cast(year, sa.Integer).label("year"), *count).where(mine).group_by("year")
        )
    }
    years = counted_years(today)
    reports = {}
    for y in years:
        row = per_year.get(y)
        reports[y] = _protected(row.n, row.keys) if row else _protected(0, 0)
    return CompanyCounts(years=years, reports=reports, total=_protected(total.n, total.keys))


def report_counts(company_ids: list[int]) -> dict[int, Cell]:
    """Consented reports (all years) naming each of the given companies, protected: a
    company no report names shows "<5" like any small count."""
    if not company_ids:
        return {}
    rows = db.session.execute(
        sa.select(Case.company_id, sa.func.count(), sa.func.sum(Case.record_key))
        .where(Case.company_id.in_(company_ids), consented_reports())
        .group_by(Case.company_id)
    ).all()
    found = {company_id: (n, keys) for company_id, n, keys in rows}
    return {c: _protected(*found.get(c, (0, 0))) for c in company_ids}
