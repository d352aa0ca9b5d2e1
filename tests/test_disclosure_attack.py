"""The attack of issue 12, run against the cell-key method: it must fail.

A realistic dataset is seeded through the app's models with its truth kept aside. Every
table a role may obtain for the window is asked from the same function that serves the
page, the exports and the API, and turned into what each published number tells an
attacker who knows the published perturbation table (`disclosure.feasible_counts`). A
linear program over all of them then looks for every protected cell's feasible interval
(tests/disclosure_attack.py).

The method's guarantee (docs/statistics.md), checked here for a monitor (every table a
monitor may request), an institution (about the rest of the sector) and SBB: no protected
count of a cell that holds a report is recovered exactly, a count from 1 to 4 least of all.
(That a cell is empty may be inferred: "<5" leaves 0 open, but it is no one's report.)

It takes about two minutes: marked `slow`; `.ci/run` runs it on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from stagepact import statistics
from stagepact.extensions import db
from stagepact.models import Institution
from tests import disclosure_attack as da

pytestmark = pytest.mark.slow

FIRST, LAST = date(2024, 1, 1), date(2025, 12, 31)


def assert_no_protected_count_is_recovered(published, truth, institutions) -> int:
    """Every protected cell that holds a report keeps at least two true counts open."""
    protected = list(dict.fromkeys(p.cell for p in published if p.protected))
    held = [cell for cell in protected if cell.true_count(truth) > 0]
    small = [cell for cell in held if cell.true_count(truth) in da.SMALL]
    assert len(small) > 20, "the dataset has small counts to protect"
    broken = da.pinned(published, truth, institutions, da.vocabulary(truth), held)
    wrong = [b for b in broken if b.contradicts]
    assert wrong == [], "a bound excludes the truth: the attack or the method is broken"
    assert [b for b in broken if b.true in da.SMALL] == [], "a count from 1 to 4 recovered"
    assert broken == [], f"{len(broken)} protected counts recovered exactly"
    return len(held)


@pytest.fixture
def world():
    truth = da.seed_world(700, 10, 3, FIRST, LAST, seed=2026)
    statistics.publish()
    db.session.commit()
    regions = {i.id: i.region for i in db.session.scalars(sa.select(Institution))}
    served = statistics.publication().periods("year")
    assert served[:2] == [statistics.calendar_year(2024), statistics.calendar_year(2025)]
    return truth, regions


def test_a_monitor_recovers_no_count_from_every_table_it_may_request():
    """A year of one sector: every closed quarter, school year and calendar year, at sector,
    region and (per school year) institution level, every one- and two-way table, and the
    trends. Smaller than the other world (300 reports, 6 institutions, 2 regions), so that
    the program (some 20,000 variables and 24,000 rows) is solved in CI time."""
    truth = da.seed_world(300, 6, 2, date(2025, 1, 1), date(2025, 12, 31), seed=2026)
    statistics.publish()
    db.session.commit()
    regions = {i.id: i.region for i in db.session.scalars(sa.select(Institution))}
    published = da.monitor_cells(regions)
    held = assert_no_protected_count_is_recovered(published, truth, sorted(regions))
    print(f"monitor: {len({p.cell for p in published})} cells, {held} protected with a report")
    assert held > 5000


def test_an_institution_recovers_no_count_of_the_rest_of_the_sector(world):
    truth, regions = world
    largest = max(regions, key=lambda i: sum(r.institution == i for r in truth))
    published = da.institution_cells(regions, largest, truth)
    protected = assert_no_protected_count_is_recovered(published, truth, sorted(regions))
    print(f"institution: {protected} protected cells with a report, none recovered")
    assert protected > 500


def test_sbb_recovers_no_count_of_a_companys_consented_reports(world):
    truth, regions = world
    published = da.sbb_cells(FIRST, LAST)
    protected = assert_no_protected_count_is_recovered(published, truth, sorted(regions))
    print(f"SBB: {protected} protected cells with a report, none recovered")
    assert protected > 50


def test_the_attack_would_notice_a_count_published_exactly(world):
    """A control: the same attack against the same tables with one small cell published
    as its true count pins it, so a pass above means something."""
    truth, regions = world
    published = da.sbb_cells(FIRST, LAST)
    target = next(p for p in published if p.cell.true_count(truth) in da.SMALL)
    true = target.cell.true_count(truth)
    published.append(da.Published(target.cell, true, true, False))
    broken = da.pinned(published, truth, sorted(regions), da.vocabulary(truth), [target.cell])
    assert [b.cell for b in broken] == [target.cell]
