"""The cell-key method's properties, checked by hypothesis (issue 12).

- noise stays within its bound and a count never goes below 0; a cell of no reports is not
  perturbed and, like every count below the threshold, shows as "<k";
- the published perturbation table has mean 0 and the documented variance for every count;
- the same reports give the same number, whatever order or table they come in;
- what an attacker reads off one published value (`feasible_counts`) always holds the truth;
- shares and medians are whole, bounded, and absent for small groups;
- in the app: a cell is the same in every table that shows it, and erasing personal data
  changes no number (the record key outlives it).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stagepact import disclosure, statistics
from stagepact.disclosure import (
    MAX_NOISE,
    MEASURE_MIN,
    PERTURBATION,
    RECORD_KEY_RANGE,
    SMALL,
    feasible_counts,
    median,
    noise,
    perturbed,
    share,
    shown_count,
)
from stagepact.extensions import db
from stagepact.models import Case
from tests.factories import make_case, make_institution

K = 5
keys = st.integers(min_value=0, max_value=RECORD_KEY_RANGE - 1)
counts = st.integers(min_value=0, max_value=10_000)


@given(counts, st.lists(keys, max_size=40))
def test_noise_is_bounded_and_never_makes_a_count_negative(count, record_keys):
    key_sum = sum(record_keys)
    assert abs(noise(count, key_sum)) <= MAX_NOISE
    assert perturbed(count, key_sum) >= 0


@given(st.lists(keys, max_size=40))
def test_a_cell_of_no_reports_is_not_perturbed_and_shows_as_below_the_threshold(record_keys):
    """An empty cell shows "<k" like a small one: were it 0, "<k" would say "at least one",
    the exact count of every cell of one report."""
    assert perturbed(0, sum(record_keys)) == 0
    assert shown_count(0, sum(record_keys), K) == (0, SMALL)
    assert 0 in feasible_counts(SMALL, K) and 1 in feasible_counts(SMALL, K)


@given(st.lists(keys, min_size=1, max_size=40), st.randoms())
def test_the_same_reports_give_the_same_number_in_any_order(record_keys, rng):
    shuffled = list(record_keys)
    rng.shuffle(shuffled)
    count = len(record_keys)
    assert shown_count(count, sum(record_keys), K) == shown_count(count, sum(shuffled), K)
    # Only the key sum modulo the range matters: a cell key.
    assert noise(count, sum(record_keys)) == noise(count, sum(record_keys) + RECORD_KEY_RANGE)


def test_the_perturbation_table_has_mean_zero_and_the_same_variance_for_every_count():
    for count, row in PERTURBATION.items():
        weights = [w for _noise, w in row]
        assert sum(weights) == 100
        assert sum(n * w for n, w in row) == 0, count  # mean zero
        assert sum(n * n * w for n, w in row) == 80, count  # variance 0.8
        assert all(count + n >= 0 for n, _w in row)  # a count never goes below zero
        assert max(abs(n) for n, _w in row) == MAX_NOISE


def test_each_noise_takes_its_share_of_the_cell_keys():
    """The cell key runs through the table in order: each noise gets exactly its weight's
    share of the key range (checked at the edges of every band)."""
    for count, row in PERTURBATION.items():
        start, cumulative = 0, 0
        for value, weight in row:
            cumulative += weight
            end = -(-cumulative * RECORD_KEY_RANGE // 100)  # the first key past the band
            assert noise(count, start) == value
            assert noise(count, end - 1) == value
            assert end - start in (
                weight * RECORD_KEY_RANGE // 100,
                weight * RECORD_KEY_RANGE // 100 + 1,
            )
            start = end
        assert start == RECORD_KEY_RANGE


@given(counts, st.lists(keys, max_size=40))
def test_small_perturbed_counts_show_as_below_the_threshold(count, record_keys):
    value, hidden = shown_count(count, sum(record_keys), K)
    assert (hidden == SMALL) == (value < K)


@given(counts, st.lists(keys, max_size=40))
def test_what_one_published_value_tells_always_holds_the_truth(count, record_keys):
    value, hidden = shown_count(count, sum(record_keys), K)
    assert count in feasible_counts(SMALL if hidden else value, K)


def test_a_published_value_always_leaves_more_than_one_true_count():
    for shown in [SMALL, *range(K, 40)]:
        assert len(feasible_counts(shown, K)) >= 3, shown
    with pytest.raises(ValueError):
        feasible_counts(K - 1, K)  # a count below k is never shown as itself


pair = st.tuples(st.integers(min_value=0, max_value=500), keys)


@given(pair, pair)
def test_a_share_is_a_whole_percent_of_a_large_enough_group(met, due):
    met = (min(met[0], due[0]), met[1])
    value = share(met, due)
    if perturbed(*due) < MEASURE_MIN:
        assert value is None
    else:
        assert isinstance(value, int) and 0 <= value <= 100


histograms = st.lists(
    st.tuples(st.integers(min_value=0, max_value=400), st.integers(1, 30), keys), max_size=30
)


@given(histograms)
def test_a_median_is_whole_days_of_a_large_enough_group(histogram):
    value = median(histogram)
    if sum(perturbed(n, k) for _d, n, k in histogram) < MEASURE_MIN:
        assert value is None
    else:
        days = [d for d, _n, _k in histogram]
        assert isinstance(value, int) and min(days) <= value <= max(days)


def test_a_median_of_exact_counts_is_the_middle_value_rounded_to_a_whole_day():
    assert disclosure.whole_median([(1, 1), (2, 1), (3, 1), (4, 1)]) == 3  # 2.5 rounds up
    assert disclosure.whole_median([(10, 3), (20, 1)]) == 10
    assert disclosure.whole_median([]) is None


# --- In the app: one cell, one number; erasure changes nothing --------------------------------

MARCH = datetime(2025, 3, 12, 10, 0)
PHASES = ["application", "internship", "school", "other", None]
FORMS = ["refused", "remark", "unequal", None]
GROUND_CODES = ["origin", "religion", "name", "age"]

reports = st.lists(
    st.tuples(
        st.sampled_from(PHASES),
        st.sampled_from(FORMS),
        st.lists(st.sampled_from(GROUND_CODES), max_size=2, unique=True),
        st.integers(min_value=0, max_value=1),  # which institution
        st.integers(min_value=0, max_value=80),  # days after 12 March 2025
    ),
    min_size=1,
    max_size=25,
)


def _one_number_per_cell(period: statistics.Period) -> dict:
    """Every count of every table of the period that shows phase, keyed by the cell."""
    found: dict[tuple, set] = {}

    def note(cell_id, cell):
        found.setdefault(cell_id, set()).add((cell.value, cell.hidden))

    for other in ("form", "ground"):
        for dims in (("phase", other), (other, "phase")):
            table = statistics.table(statistics.Query(period, "sector", dims))
            phase_keys = table.row_keys if dims[0] == "phase" else table.col_keys
            for index, code in enumerate(phase_keys):
                margin = table.counts[index][-1] if dims[0] == "phase" else table.counts[-1][index]
                note(("phase", code), margin)
            note(("whole",), table.counts[-1][-1])
    one_way = statistics.table(statistics.Query(period, "sector", ("phase",)))
    for index, code in enumerate(one_way.row_keys):
        note(("phase", code), one_way.counts[index][0])
    note(("whole",), one_way.counts[-1][0])
    return found


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(reports)
def test_a_cell_has_one_number_in_every_table_and_erasure_changes_none(app, made):
    try:
        _check_one_number_per_cell_and_erasure(made)
    finally:
        db.session.rollback()  # each example starts from empty tables


def _check_one_number_per_cell_and_erasure(made):
    institutions = [make_institution(), make_institution()]
    for phase, form, grounds, which, days in made:
        case, _code = make_case(institutions[which], phase=phase, form=form, grounds=grounds)
        case.submitted_at = MARCH + timedelta(days=days)
    db.session.flush()
    statistics.publish()
    periods = (statistics.quarter(2025, 1), statistics.quarter(2025, 2))

    before = {p.code: _one_number_per_cell(p) for p in periods}
    for numbers in before.values():
        for cell, seen in numbers.items():
            assert len(seen) == 1, cell  # the same cell, the same number, in every table

    # Erase what retention erases: the statistics do not move.
    for case in db.session.scalars(db.select(Case)):
        case.narrative = ""
        case.reporter_name = case.email = case.phone = case.student_number = None
    db.session.flush()
    statistics.publish()
    assert {p.code: _one_number_per_cell(p) for p in periods} == before
