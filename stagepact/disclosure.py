"""Statistical disclosure control: the one place that decides which numbers may be shown.

Every count a monitor or an institution-wide page shows passes through
`protect`. The rule (DESIGN.md "Statistics and disclosure control"):

- primary suppression: a count from 1 to k-1 (k = `STATS_MIN_COUNT`, 5 by
  default) is shown as "<k";
- complementary suppression: further cells, totals included, are hidden until
  no hidden value can be worked out from the visible cells and totals, the
  "<k" bounds and the fact that counts are not negative;
- a table so small that even hiding every cell does not do that (the "<k"
  bounds alone can pin values down) is withheld as a whole, without "<k" labels.

Why the check is exact. Put the table with its margins into one matrix whose
margin cells carry a minus sign (the grand total a plus): then every row and
column of it sums to zero, and the tables consistent with what is visible
differ from the true one by circulations on the hidden cells. Seen as edges of
a bipartite graph between rows and columns, a hidden cell can take another
value exactly when it lies on a cycle of hidden cells along which one unit
can be moved without leaving any cell's bounds (a difference between two
consistent tables splits into such cycles, each keeping every cell between
its two values). `is_protected` searches for that cycle; `protect` adds the
cheapest hidden cells until every hidden cell has one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

Cell = tuple[int, int]  # (row, column) in the margin-augmented matrix

PRIMARY = "primary"  # shown as "<k"
COMPLEMENTARY = "complementary"  # hidden to protect a primary cell
WITHHELD = "withheld"  # the whole table is too small to show anything


@dataclass(frozen=True)
class ProtectedTable:
    """A table with its margins after suppression.

    `values[r][c]` for r < rows and c < cols are the cells; column `cols` holds
    the row totals, row `rows` the column totals, and (rows, cols) the grand
    total. `hidden` maps each hidden cell to PRIMARY or COMPLEMENTARY.
    """

    values: list[list[int]]
    hidden: dict[Cell, str]
    rows: int
    cols: int
    threshold: int
    one_dimensional: bool

    def shown(self, r: int, c: int) -> int | None:
        return None if (r, c) in self.hidden else self.values[r][c]

    def kind(self, r: int, c: int) -> str | None:
        return self.hidden.get((r, c))

    @property
    def withheld(self) -> bool:
        return WITHHELD in self.hidden.values()


def augmented(cells: Sequence[Sequence[int]]) -> list[list[int]]:
    """The cells with a column of row totals, a row of column totals and the grand total."""
    rows = [list(row) + [sum(row)] for row in cells]
    totals = [sum(row[c] for row in rows) for c in range(len(rows[0]))] if rows else [0]
    return [*rows, totals]


def _bounds(kind: str | None, threshold: int) -> tuple[int, float]:
    if kind == PRIMARY:
        return 1, threshold - 1
    return 0, float("inf")


def _sign(r: int, c: int, rows: int, cols: int) -> int:
    """The sign that makes every row and column of the augmented matrix sum to zero."""
    margin_row, margin_col = r == rows, c == cols
    return 1 if margin_row == margin_col else -1


def _can_move(values, hidden, threshold, rows, cols, cell: Cell, step: int) -> bool:
    """Whether the signed value of a hidden cell can move by `step` (+1 or -1)."""
    r, c = cell
    change = step * _sign(r, c, rows, cols)
    low, high = _bounds(hidden[cell], threshold)
    return low <= values[r][c] + change <= high


def can_vary(values: list[list[int]], hidden: dict[Cell, str], threshold: int, cell: Cell) -> bool:
    """Whether another table, equal in everything visible, gives `cell` another value."""
    rows, cols = len(values) - 1, len(values[0]) - 1
    r0, c0 = cell
    for direction in (1, -1):
        if not _can_move(values, hidden, threshold, rows, cols, cell, direction):
            continue
        # Moving `direction` on (r0, c0), then alternately -direction (column to
        # row) and +direction (row to column), must come back to row r0.
        seen_rows, seen_cols = {r0}, {c0}
        queue = deque([("col", c0)])
        while queue:
            side, index = queue.popleft()
            if side == "col":
                for r in range(rows + 1):
                    edge = (r, index)
                    if edge not in hidden or edge == cell:
                        continue
                    if not _can_move(values, hidden, threshold, rows, cols, edge, -direction):
                        continue
                    if r == r0:
                        return True
                    if r not in seen_rows:
                        seen_rows.add(r)
                        queue.append(("row", r))
            else:
                for c in range(cols + 1):
                    edge = (index, c)
                    if edge not in hidden or c in seen_cols:
                        continue
                    if _can_move(values, hidden, threshold, rows, cols, edge, direction):
                        seen_cols.add(c)
                        queue.append(("col", c))
    return False


def is_protected(values: list[list[int]], hidden: dict[Cell, str], threshold: int) -> bool:
    return all(can_vary(values, hidden, threshold, cell) for cell in hidden)


def _linked(cell: Cell, rows: int, cols: int, one_dimensional: bool) -> list[Cell]:
    """A one-dimensional table shows each row once: a row's cell and its total go together."""
    if one_dimensional:
        return [(cell[0], 0), (cell[0], cols)]
    return [cell]


def _hide(hidden: dict[Cell, str], cells: list[Cell], kind: str) -> None:
    for cell in cells:
        hidden.setdefault(cell, kind)


def protect(cells: Sequence[Sequence[int]], threshold: int = 5) -> ProtectedTable:
    """Suppress `cells` (rows of counts; one column for a one-dimensional table)."""
    values = augmented(cells) if cells else [[0]]
    rows, cols = len(values) - 1, len(values[0]) - 1
    one_dimensional = cols == 1
    hidden: dict[Cell, str] = {}
    every_cell = [(r, c) for r in range(rows + 1) for c in range(cols + 1)]
    for cell in every_cell:
        if 0 < values[cell[0]][cell[1]] < threshold:
            _hide(hidden, _linked(cell, rows, cols, one_dimensional), PRIMARY)
    while True:
        exposed = next(
            (cell for cell in hidden if not can_vary(values, hidden, threshold, cell)), None
        )
        if exposed is None:
            break
        candidates = sorted(
            (cell for cell in every_cell if cell not in hidden),
            # Prefer small cells, cells over totals, and the exposed cell's own lines.
            key=lambda cell: (
                cell[0] == rows or cell[1] == cols,
                cell[0] != exposed[0] and cell[1] != exposed[1],
                values[cell[0]][cell[1]],
                cell,
            ),
        )
        if not candidates:
            # Even with every cell hidden, the "<k" bounds give something away (four
            # cells of at least 1 under a total below 5 are all 1): withhold it all.
            hidden = dict.fromkeys(every_cell, WITHHELD)
            break
        for candidate in candidates:
            trial = dict(hidden)
            _hide(trial, _linked(candidate, rows, cols, one_dimensional), COMPLEMENTARY)
            if can_vary(values, trial, threshold, exposed):
                hidden = trial
                break
        else:
            _hide(hidden, _linked(candidates[0], rows, cols, one_dimensional), COMPLEMENTARY)
    return ProtectedTable(values, hidden, rows, cols, threshold, one_dimensional)


def median_shown(count: int, threshold: int) -> bool:
    """A median over fewer than k cases is not shown."""
    return count >= threshold
