"""The attack of issue 12 against the cell-key method, with figures, beside the old rule's.

Seeds the world of `tests/test_disclosure_attack.py`'s monitor test (300 reports, 6
institutions in 2 regions, 2025; record keys from the seed), the same dataset that
`bench/disclosure_attack_old_rule.py --reports 300 --institutions 6 --regions 2` seeds with
seed 2026 at commit e530e0e. Asks every table a monitor may request, and every table the
largest institution may request, and bounds every protected cell that holds a report with
the linear program of `tests/disclosure_attack.py`. The monitor's tables are read two ways:

- as served: every perturbed count below 5, an empty cell's 0 included, shows as "<5";
- as if an empty cell showed 0 (the rule before): "<5" then says "1 to 6" and a 0 says
  "0 to 2", from the same perturbed counts.

With `--narrowed`, it finds both ends of every protected cell's interval instead, and
counts the cells the attacker narrows (an end inside what the cell's own value allows)
for the monitor (that world), and for the largest institution and SBB on the world of
the institution and SBB tests (700 reports, 10 institutions, 3 regions, 2024-2025). For
the monitor, the ends that rounds of programs solved for many cells at once do not
settle are solved one by one for a random sample of `--sample` cells per end.

    .venv/bin/python bench/disclosure_attack_cell_key.py [--reports 300] [--seed 2026]
    .venv/bin/python bench/disclosure_attack_cell_key.py --narrowed [--sample 60]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config import TestConfig  # noqa: E402
from stagepact import create_app, disclosure, statistics  # noqa: E402
from stagepact.extensions import db  # noqa: E402
from stagepact.models import Institution  # noqa: E402
from tests import disclosure_attack as da  # noqa: E402


def as_if_empty_showed_zero(published: list[da.Published]) -> list[da.Published]:
    """The same perturbed counts, read as the rule before: 0 shown as 0, 1 to 4 as "<5"."""
    read = []
    for p in published:
        if p.protected and p.perturbed is not None and p.perturbed < da.THRESHOLD:
            low, high = (0, disclosure.MAX_NOISE) if p.perturbed == 0 else (1, 6)
            p = da.Published(p.cell, low, high, True, p.perturbed)
        read.append(p)
    return read


def run(name: str, published, truth, institutions, vocabulary) -> None:
    started = time.perf_counter()
    held = list(dict.fromkeys(p.cell for p in published if p.protected))
    held = [c for c in held if c.true_count(truth) > 0]
    broken = da.pinned(published, truth, institutions, vocabulary, held)
    exact = [b for b in broken if b.exact]
    print(f"{name}")
    print(f"   protected cells holding a report   {len(held):>7,}")
    print(f"   recovered exactly                  {len(exact):>7,}")
    print(f"     of which a true count 1-4        {sum(b.true in da.SMALL for b in exact):>7,}")
    print(f"     of which a single report         {sum(b.true == 1 for b in exact):>7,}")
    wrong = sum(b.contradicts for b in broken)
    print(f"   bounds contradicting the truth     {wrong:>7,}")
    print(f"   ({time.perf_counter() - started:.0f} s)")


def narrowed(name: str, published, truth, institutions, vocabulary, sample=None) -> None:
    started = time.perf_counter()
    held = list(dict.fromkeys(p.cell for p in published if p.protected))
    held = [c for c in held if c.true_count(truth) > 0]
    stats: dict = {}
    bounds = da.intervals(
        published, truth, institutions, vocabulary, held, sample=sample, stats=stats
    )
    by_cell = {b.cell: b for b in bounds}
    print(f"{name}")
    print(f"   protected cells holding a report   {len(held):>7,}")
    print(f"   recovered exactly                  {sum(b.exact for b in bounds):>7,}")
    print(f"   narrowed                           {sum(b.narrowed for b in bounds):>7,}")
    small = [b for b in bounds if b.true in da.SMALL]
    print(
        f"     of which a true count 1-4        {sum(b.narrowed for b in small):>7,}"
        f"  (of {len(small):,})"
    )
    print(
        f"   both ends as wide as its own value {sum(not b.narrowed and None not in b.found for b in bounds):>7,}"
    )
    print(f"   not settled (sample below)         {sum(b.undecided for b in bounds):>7,}")
    for side, index in (("upper", 1), ("lower", 0)):
        left, solved = stats.get(side, (0, []))
        inside = sum(by_cell[c].inside(index) for c in solved)
        print(
            f"   {side} ends left after the rounds  {left:>7,}; solved {len(solved):,}, inside its own range: {inside:,}"
        )
    wrong = sum(b.contradicts for b in bounds)
    print(f"   bounds contradicting the truth     {wrong:>7,}")
    print(f"   ({time.perf_counter() - started:.0f} s)")


@contextlib.contextmanager
def _world(reports: int, institutions: int, regions: int, first: date, last: date, seed: int):
    """A seeded, published world in a scratch database: (truth, institution id -> region)."""
    with tempfile.TemporaryDirectory() as scratch:
        app = create_app(
            TestConfig,
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{Path(scratch) / 'attack.sqlite'}",
                "ATTACHMENT_DIR": scratch,
            },
        )
        with app.app_context():
            db.create_all()
            truth = da.seed_world(reports, institutions, regions, first, last, seed=seed)
            statistics.publish()
            db.session.commit()
            yield truth, {i.id: i.region for i in db.session.query(Institution)}


YEAR = (date(2025, 1, 1), date(2025, 12, 31))  # the monitor test's world
TWO_YEARS = (date(2024, 1, 1), date(2025, 12, 31))  # the institution and SBB tests' world


def main_narrowed(args) -> None:
    with _world(args.reports, args.institutions, args.regions, *YEAR, args.seed) as world:
        truth, regions = world
        narrowed(
            f"monitor, {args.reports} reports",
            da.monitor_cells(regions),
            truth,
            sorted(regions),
            da.vocabulary(truth),
            args.sample,
        )
    with _world(700, 10, 3, *TWO_YEARS, args.seed) as (truth, regions):
        largest = max(regions, key=lambda i: sum(r.institution == i for r in truth))
        vocabulary = da.vocabulary(truth)
        narrowed(
            "institution (the largest), 700 reports",
            da.institution_cells(regions, largest, truth),
            truth,
            sorted(regions),
            vocabulary,
        )
        sbb = da.sbb_cells(*TWO_YEARS)
        narrowed("SBB, 700 reports", sbb, truth, sorted(regions), vocabulary)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=300)
    parser.add_argument("--institutions", type=int, default=6)
    parser.add_argument("--regions", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--narrowed", action="store_true")
    parser.add_argument("--sample", type=int, default=60)
    args = parser.parse_args()
    if args.narrowed:
        main_narrowed(args)
        return
    with _world(args.reports, args.institutions, args.regions, *YEAR, args.seed) as world:
        truth, regions = world
        published = da.monitor_cells(regions)
        vocabulary = da.vocabulary(truth)
        print(
            f"{args.reports} reports, {args.institutions} institutions, "
            f"{args.regions} regions, seed {args.seed}: "
            f"{len({p.cell for p in published}):,} distinct published cells"
        )
        institutions = sorted(regions)
        run(
            "monitor, as served (an empty cell shows <5)",
            published,
            truth,
            institutions,
            vocabulary,
        )
        largest = max(regions, key=lambda i: sum(r.institution == i for r in truth))
        run(
            "institution (the largest), as served",
            da.institution_cells(regions, largest, truth),
            truth,
            institutions,
            vocabulary,
        )
        run(
            "monitor, as if an empty cell showed 0",
            as_if_empty_showed_zero(published),
            truth,
            institutions,
            vocabulary,
        )


if __name__ == "__main__":
    main()
