"""The attack of issue 12 against the per-table suppression rule, for the baseline figures.

Seeds the same dataset as `tests/test_disclosure_attack.py` (through the app's models,
truth kept aside), asks the old table server for every table a monitor, and an
institution, could request in the window (every month, quarter, school year, calendar
year and two-month range; sector, region and institution level; every one-way and, at
sector level, every two-way table), and solves for the bounds of the suppressed cells
with a linear program (tests/disclosure_attack.py).

This script runs only against the per-table rule (`disclosure.protect`), which the
cell-key method replaced; it is kept so that the baseline in docs/statistics.md can be
measured again at the commit that has both.

    .venv/bin/python bench/disclosure_attack_old_rule.py [--reports 1200] [--sample 800]
        [--seed 2026] [--pairs ground]

The world of the cell-key bench and the monitor test is `--reports 300 --institutions 6
--regions 2` with the default seed.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config import TestConfig  # noqa: E402
from stagepact import create_app, disclosure, statistics  # noqa: E402
from stagepact.extensions import db  # noqa: E402
from stagepact.models import Institution  # noqa: E402
from tests import disclosure_attack as da  # noqa: E402

FIRST, LAST = date(2025, 1, 1), date(2025, 12, 31)


def periods() -> list[statistics.Period]:
    found = [statistics.month(2025, m) for m in range(1, 13)]
    found += [statistics.quarter(2025, q) for q in range(1, 5)]
    found += [statistics.calendar_year(2025), statistics.school_year(2024)]
    found += [statistics.school_year(2025)]
    found += [statistics.date_range(date(2025, m, 1), date(2025, m + 1, 1)) for m in range(1, 12)]
    return found


def months_of(period: statistics.Period) -> frozenset[str]:
    out, current = set(), period.start
    while current < period.end:
        if FIRST <= current <= LAST:
            out.add(f"{current:%Y-%m}")
        current = (current.replace(day=1) + timedelta(days=32)).replace(day=1)
    return frozenset(out)


def interval(cell: statistics.Cell, k: int) -> tuple[float, float, bool]:
    if cell.hidden == disclosure.PRIMARY:
        return 1, k - 1, True
    if cell.hidden is not None:
        return 0, math.inf, True
    return cell.value, cell.value, False


def _axis(dimension: str, key, keys) -> tuple | None:
    if key is not None:
        return dimension, frozenset({key})
    if dimension == da.GROUND:
        return dimension, frozenset(keys)
    return None


def cells_of(table: statistics.Table, region_of: dict[int, str]) -> list[da.Published]:
    query, k = table.query, table.threshold
    months = months_of(query.period)
    everyone = None
    if query.excluding is not None:
        everyone = frozenset(i for i in region_of if i != query.excluding)

    def units(row_key: str):
        if query.level == "region":
            return frozenset(i for i, r in region_of.items() if r == row_key)
        if query.level == "institution":
            return frozenset({int(row_key)})
        return everyone

    out = []
    dims = list(query.dimensions)
    level_rows = query.level != "sector"
    for r, row_key in enumerate([*table.row_keys, None]):
        for c, col_key in enumerate([*table.col_keys, None]):
            if table.col_axis is None and c == 1:
                continue  # a one-way table's single column is its own total
            # A margin is the sum of the cells it totals: over a ground axis, a report
            # counts once per ground (the per-table rule summed the cells).
            categories = []
            institutions = everyone
            if level_rows:
                if row_key is not None:
                    institutions = units(row_key)
                if table.col_axis:
                    categories.append(_axis(dims[0], col_key, table.col_keys))
            else:
                categories.append(_axis(dims[0], row_key, table.row_keys))
                if table.col_axis:
                    categories.append(_axis(dims[1], col_key, table.col_keys))
            categories = [c for c in categories if c is not None]
            cell = table.counts[r][c if table.col_axis else 0]
            low, high, hidden = interval(cell, k)
            spec = da.Cell(months, institutions, tuple(sorted(categories)))
            out.append(da.Published(spec, low, high, hidden))
    return out


PAIRED_WITH = list(statistics.DIMENSIONS)  # --pairs ground: only two-way tables with ground


def monitor_tables(region_of) -> list[da.Published]:
    out = []
    names = list(statistics.DIMENSIONS)
    for period in periods():
        for a in names:
            for level in ("sector", "region", "institution"):
                query = statistics.Query(period, level, (a,))
                out += cells_of(statistics.table(query, today=date(2026, 12, 7)), region_of)
            for b in names:
                if b != a and (a in PAIRED_WITH or b in PAIRED_WITH):
                    query = statistics.Query(period, "sector", (a, b))
                    out += cells_of(statistics.table(query, today=date(2026, 12, 7)), region_of)
    return out


def institution_tables(own: int, region_of, truth) -> list[da.Published]:
    """What an institution's staff see: their own figures exactly, the rest suppressed."""
    out = []
    names = list(statistics.DIMENSIONS)
    for period in periods():
        for a in names:
            pairs = [(a, b) for b in names if b != a and (a in PAIRED_WITH or b in PAIRED_WITH)]
            for dims in [(a,), *pairs]:
                rest = statistics.Query(period, "sector", dims, excluding=own)
                out += cells_of(statistics.table(rest, today=date(2026, 12, 7)), region_of)
                mine = statistics.Query(period, "sector", dims, institution_id=own)
                for p in cells_of(
                    statistics.table(mine, today=date(2026, 12, 7), protect=False), region_of
                ):
                    spec = da.Cell(p.cell.months, frozenset({own}), p.cell.categories)
                    n = spec.true_count(truth)
                    out.append(da.Published(spec, n, n, False))
    return out


def vocabulary() -> dict[str, list[str]]:
    return {name: list(d.labels) for name, d in statistics.DIMENSIONS.items()}


def run(role: str, published, truth, institutions, sample: int) -> None:
    """Bounds for a random sample of the suppressed cells: half of them among those with a
    true count of 1 to 4, half among the others (a full run takes hours)."""
    protected = list(dict.fromkeys(p.cell for p in published if p.protected))
    small = [c for c in protected if c.true_count(truth) in da.SMALL]
    others = [c for c in protected if c.true_count(truth) not in da.SMALL]
    rng = random.Random(7)
    targets = rng.sample(small, min(len(small), sample // 2))
    targets += rng.sample(others, min(len(others), sample - len(targets)))
    started = time.perf_counter()
    bounds = da.attack(
        published,
        truth,
        institutions,
        vocabulary(),
        targets=targets,
        progress=lambda n, total: print(f"  {role}: {n}/{total}", flush=True),
    )
    elapsed = time.perf_counter() - started
    solved_small = [b for b in bounds if b.true in da.SMALL]
    solved_others = [b for b in bounds if b.true not in da.SMALL]
    print(f"\n== {role}: {len(published):,} published cells, {len(protected):,} suppressed")
    print(f"   of which {len(small):,} with a true count of 1 to 4; {elapsed:.0f} s")
    for name, part, population in (
        ("true count 1-4", solved_small, len(small)),
        ("true count 0 or 5+", solved_others, len(others)),
    ):
        exact = sum(b.exact for b in part)
        narrowed = sum(b.narrowed for b in part)
        wrong = sum(not (b.found[0] <= b.true <= b.found[1]) for b in part)
        share = exact / len(part) if part else 0
        print(
            f"   {name:<20} sample {len(part):>5} of {population:>6,}: recovered exactly "
            f"{exact:>5} ({share:.0%}), narrowed {narrowed:>5}, contradicting the truth {wrong}"
        )
    singles = [b for b in solved_small if b.true == 1]
    print(
        f"   single reports (true count 1) in the sample: {len(singles)}, "
        f"pinned exactly: {sum(b.exact for b in singles)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reports", type=int, default=1200)
    parser.add_argument("--institutions", type=int, default=12)
    parser.add_argument("--regions", type=int, default=4)
    parser.add_argument("--sample", type=int, default=400)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--pairs",
        default="all",
        help="'ground': only the two-way tables with ground (a weaker attacker, fewer "
        "variables; a lower bound of what the rule gives away); 'none': one-way tables only",
    )
    parser.add_argument(
        "--roles",
        default="monitor,institution",
        help="whom to attack as: monitor, institution or both (comma separated)",
    )
    args = parser.parse_args()
    roles = set(args.roles.split(","))
    if args.pairs != "all":
        PAIRED_WITH[:] = [args.pairs]
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
            started = time.perf_counter()
            truth = da.seed_world(
                args.reports, args.institutions, args.regions, FIRST, LAST, seed=args.seed
            )
            print(f"seeded {len(truth)} reports in {time.perf_counter() - started:.0f} s")
            region_of = {i.id: i.region for i in db.session.query(Institution)}
            institutions = sorted(region_of)
            if "monitor" in roles:
                started = time.perf_counter()
                monitor = monitor_tables(region_of)
                print(f"monitor tables: {time.perf_counter() - started:.0f} s")
                run("monitor", monitor, truth, institutions, args.sample)
            if "institution" not in roles:
                return
            own = institutions[0]
            started = time.perf_counter()
            mine = institution_tables(own, region_of, truth)
            print(f"institution tables: {time.perf_counter() - started:.0f} s")
            run("institution (largest school)", mine, truth, institutions, args.sample)


if __name__ == "__main__":
    main()
