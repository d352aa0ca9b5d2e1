"""Statistical disclosure control: the one place that decides what a number may show.

The statistics are a table server: a role can ask for many tables of the same reports
and set them against each other. Protecting each table on its own does not survive
that (issue 12 measured 92% of the hidden cells recovered). This module applies the
cell-key method that table servers such as the ABS TableBuilder use; docs/statistics.md
gives the parameters and why.

- Every report gets a random record key when it is made (`new_record_key`), kept with
  it for good, erasure included.
- A cell's key is the sum of its reports' keys modulo `RECORD_KEY_RANGE`. The same
  reports give the same key, whichever table, period or export the cell appears in.
- `PERTURBATION`, published, turns (true count, cell key) into a small whole noise of
  at most `MAX_NOISE`, with mean zero. A cell of no reports is not perturbed.
- A perturbed count below k (k = `STATS_MIN_COUNT`, 5), zero included, is shown as "<k".
  "<k" therefore never says that a cell holds a report: were an empty cell shown as 0,
  "<k" would mean "at least one", and that lower bound is the exact count of every cell
  of one report, which a linear program over a monitor's tables then pins (issue 12).
- Shares and medians are computed from perturbed counts only (the deadline counts and
  the histogram of handling days, each cell with its own key), shown only for groups of
  at least `MEASURE_MIN` perturbed reports, as whole percents and whole days.

Every count a monitor, an institution (about other institutions) or SBB sees passes
through `shown_count`; every share through `share`; every median through `median`.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterable

RECORD_KEY_RANGE = 2**31  # record keys are 0 .. 2**31 - 1; cell keys are sums modulo this
MAX_NOISE = 2
MEASURE_MIN = 20

# The perturbation table: for a true count (1, or 2 and more), the noise and its weight in
# percent, in the order the cell key runs through them. Zero mean and the same variance
# (0.8) for every count; a count of 1 cannot go below 0.
PERTURBATION: dict[int, tuple[tuple[int, int], ...]] = {
    1: ((-1, 30), (0, 50), (1, 10), (2, 10)),
    2: ((-2, 5), (-1, 20), (0, 50), (1, 20), (2, 5)),
}

SMALL = "small"  # a perturbed count below k, zero included, shown as "<k"
TOO_FEW = "too_few"  # a share or median over fewer than MEASURE_MIN perturbed reports


def new_record_key() -> int:
    """A report's record key: random, fixed for the report's whole life."""
    return secrets.randbelow(RECORD_KEY_RANGE)


def cell_key(key_sum: int) -> int:
    """The cell key of a cell whose reports' record keys add up to `key_sum`."""
    return key_sum % RECORD_KEY_RANGE


def noise(count: int, key_sum: int) -> int:
    """The noise the perturbation table gives a cell of `count` reports with this key."""
    if count <= 0:
        return 0
    key = cell_key(key_sum)
    seen = 0
    row = PERTURBATION[min(count, 2)]
    for value, weight in row:
        seen += weight
        # key / RANGE < seen / 100, in whole numbers
        if key * 100 < seen * RECORD_KEY_RANGE:
            return value
    return row[-1][0]  # pragma: no cover (the weights add up to 100)


def perturbed(count: int, key_sum: int) -> int:
    """The perturbed count of a cell: never negative, 0 when empty or by noise."""
    return count + noise(count, key_sum)


def shown_count(count: int, key_sum: int, threshold: int) -> tuple[int, str | None]:
    """(perturbed count, None), or (perturbed count, SMALL) when it must show as "<k":
    every perturbed count below k, an empty cell's 0 included."""
    value = perturbed(count, key_sum)
    if value < threshold:
        return value, SMALL
    return value, None


def feasible_counts(shown: int | str, threshold: int) -> range:
    """Every true count the perturbation table can publish as `shown` (a number of at
    least k, or SMALL for "<k"): what an attacker who knows the table learns from one
    cell. "<k" leaves 0 among them."""
    if shown == SMALL:
        return range(0, threshold - 1 + MAX_NOISE + 1)
    if shown < threshold:
        raise ValueError(f"a count below {threshold} is shown as SMALL, not {shown}")
    return range(max(1, shown - MAX_NOISE), shown + MAX_NOISE + 1)


def share(met: tuple[int, int], due: tuple[int, int], minimum: int = MEASURE_MIN) -> int | None:
    """The share of deadlines met, in whole percent, from the perturbed (count, key sum) of
    the reports whose deadline was met and of those whose deadline was due; None when
    fewer than `minimum` are due."""
    due_count = perturbed(*due)
    if due_count < minimum:
        return None
    met_count = min(perturbed(*met), due_count)
    return math.floor(100 * met_count / due_count + 0.5)


def whole_median(bins: Iterable[tuple[int, int]]) -> int | None:
    """The median in whole days (halves round up) of values given as (days, how many)."""
    ordered = sorted(bins)
    total = sum(n for _days, n in ordered)
    if total <= 0:
        return None
    wanted = [(total - 1) // 2, total // 2]  # the middle one, or the middle two
    found, seen = [], 0
    for days, n in ordered:
        while wanted and wanted[0] < seen + n:
            found.append(days)
            wanted.pop(0)
        seen += n
    return math.floor(sum(found) / len(found) + 0.5)


def median(histogram: Iterable[tuple[int, int, int]], minimum: int = MEASURE_MIN) -> int | None:
    """The median in whole days of a histogram given as (days, count, key sum) per whole
    day, each count perturbed; None when fewer than `minimum` reports remain."""
    bins = [(days, perturbed(count, key)) for days, count, key in histogram]
    if sum(n for _days, n in bins) < minimum:
        return None
    return whole_median(bins)
