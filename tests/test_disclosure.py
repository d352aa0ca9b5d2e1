"""Disclosure control: no count from 1 to 4 is shown, and no hidden count can be worked out.

The property tests check `disclosure.protect` against an independent, exhaustive
search: every change of one unit or less to each hidden cell that keeps every
visible cell and total as shown and every hidden cell within what is known of
it. (Any other consistent table differs from the true one by such unit cycles,
so a hidden cell that no such change moves is determined.)
"""

from __future__ import annotations

import itertools

from hypothesis import example, given, settings
from hypothesis import strategies as st

from stagepact import disclosure
from stagepact.disclosure import COMPLEMENTARY, PRIMARY, WITHHELD, protect

K = 5

small_counts = st.integers(min_value=0, max_value=14)


def tables(max_rows: int, max_cols: int):
    return st.integers(1, max_rows).flatmap(
        lambda rows: st.integers(1, max_cols).flatmap(
            lambda cols: st.lists(
                st.lists(small_counts, min_size=cols, max_size=cols), min_size=rows, max_size=rows
            )
        )
    )


def _what_can_move(table: disclosure.ProtectedTable) -> set[tuple[int, int]]:
    """Every cell (margins included) that some consistent table gives another value."""
    rows, cols = table.rows, table.cols
    values = table.values
    hidden_inner = [cell for cell in table.hidden if cell[0] < rows and cell[1] < cols]
    moved: set[tuple[int, int]] = set()
    for steps in itertools.product((-1, 0, 1), repeat=len(hidden_inner)):
        if not any(steps):
            continue
        change = dict(zip(hidden_inner, steps, strict=True))
        trial = [[values[r][c] + change.get((r, c), 0) for c in range(cols)] for r in range(rows)]
        full = disclosure.augmented(trial)
        consistent = True
        for r in range(rows + 1):
            for c in range(cols + 1):
                kind = table.kind(r, c)
                value = full[r][c]
                if kind is None and value != values[r][c]:
                    consistent = False
                elif kind == PRIMARY and not 1 <= value <= K - 1:
                    consistent = False
                elif kind in (COMPLEMENTARY, WITHHELD) and value < 0:
                    consistent = False
        if consistent:
            moved |= {
                (r, c)
                for r in range(rows + 1)
                for c in range(cols + 1)
                if full[r][c] != values[r][c]
            }
    return moved


def _assert_safe(cells, table: disclosure.ProtectedTable) -> None:
    full = disclosure.augmented(cells)
    assert table.values == full
    for r in range(table.rows + 1):
        for c in range(table.cols + 1):
            shown = table.shown(r, c)
            assert shown is None or not 1 <= shown <= K - 1, (r, c, shown)
            if 1 <= full[r][c] <= K - 1:
                assert table.kind(r, c) in (PRIMARY, WITHHELD)
    if table.one_dimensional:
        for r in range(table.rows + 1):
            assert (table.kind(r, 0) is None) == (table.kind(r, 1) is None)


@settings(max_examples=300, deadline=None)
@given(tables(max_rows=3, max_cols=3))
@example([[1, 1], [1, 1]])
@example([[3, 10], [7, 8]])
@example([[0, 4], [4, 0]])
def test_no_hidden_count_is_determined_by_what_is_visible(cells):
    table = protect(cells, K)
    _assert_safe(cells, table)
    assert set(table.hidden) <= _what_can_move(table)


@settings(max_examples=200, deadline=None)
@given(st.lists(small_counts, min_size=1, max_size=7))
@example([1, 1, 1, 1])
@example([1, 9, 12])
def test_one_dimensional_tables_hide_enough_too(column):
    cells = [[n] for n in column]
    table = protect(cells, K)
    _assert_safe(cells, table)
    assert set(table.hidden) <= _what_can_move(table)


@settings(max_examples=100, deadline=None)
@given(tables(max_rows=9, max_cols=7))
def test_larger_tables_show_no_small_count_and_pass_the_cycle_check(cells):
    table = protect(cells, K)
    _assert_safe(cells, table)
    assert disclosure.is_protected(table.values, table.hidden, K)


def test_a_single_small_cell_takes_a_rectangle_with_it():
    table = protect([[3, 10], [7, 8]], K)
    assert table.hidden == {
        (0, 0): PRIMARY,
        (0, 1): COMPLEMENTARY,
        (1, 0): COMPLEMENTARY,
        (1, 1): COMPLEMENTARY,
    }
    assert table.shown(0, 2) == 13 and table.shown(2, 2) == 28  # the totals stay


def test_a_table_the_small_count_bounds_alone_give_away_is_withheld_whole():
    # Four cells of at least 1 and a grand total below 5: each cell must be 1.
    table = protect([[1, 1], [1, 1]], K)
    assert table.withheld
    assert set(table.hidden.values()) == {WITHHELD}
    assert len(table.hidden) == 9


def test_a_table_without_small_counts_is_shown_whole():
    assert protect([[5, 0], [12, 7]], K).hidden == {}


def test_the_threshold_is_a_parameter():
    assert protect([[6, 20], [30, 40]], 10).kind(0, 0) == PRIMARY
    assert protect([[6, 20], [30, 40]], 5).hidden == {}


def test_a_median_over_fewer_cases_than_the_threshold_is_hidden():
    assert not disclosure.median_shown(4, K)
    assert disclosure.median_shown(5, K)
