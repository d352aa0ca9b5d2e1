"""An outside examiner's attack on the statistics, as code (issue 12).

1. `seed_world` inserts a realistic dataset through the app's own models and keeps the
   truth aside (`Record`s), which only the scoring reads.
2. A role's tables are turned into `Published` cells: which reports a cell counts (months,
   institutions, categories) and what the published value tells about its true count (an
   interval, from the published perturbation table or the suppression rule).
3. `Attack` solves, for each target cell, the smallest and largest true count consistent
   with every published cell, with a linear program over the finest pieces the attacker
   can tell apart: time atoms (months grouped by the periods served), institution atoms
   (institutions grouped by the levels served), and the categories of each one- and
   two-way family, tied together by what holds for any dataset (the categories of a
   single-valued dimension add up to the total; a two-way table's rows add up to the
   one-way table of that dimension; a report has at least one ground).

The linear program is solved with HiGHS (highspy), warm-started from one target to the
next, so that thousands of bounds take seconds rather than hours.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property

import numpy as np
import sqlalchemy as sa

from stagepact import disclosure, statistics
from stagepact.extensions import db
from stagepact.models import Company

GROUND = "ground"
SMALL = range(1, 5)  # the counts disclosure control exists for
THRESHOLD = 5  # STATS_MIN_COUNT: perturbed counts below it, 0 included, show as "<5"

# --- The dataset ----------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One report as the truth knows it: what every table counts it by."""

    month: str  # "2025-03", Dutch time
    institution: int
    values: tuple[tuple[str, object], ...]  # (dimension, code); ground: a frozenset of codes

    def value(self, dimension: str):
        return self.lookup[dimension]

    @cached_property
    def lookup(self) -> dict[str, object]:
        return dict(self.values)

    def but(self, **changes) -> Record:
        """This report with other values: `month`, `institution` or a dimension's code."""
        values = tuple((d, changes.pop(d, v)) for d, v in self.values)
        return Record(
            changes.pop("month", self.month), changes.pop("institution", self.institution), values
        )


def _pick(rng: random.Random, weights: dict):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


PHASE = {"application": 45, "internship": 35, "school": 8, "other": 5, None: 7}
WHO = {
    "company": 30,
    "trainer": 25,
    "colleague": 15,
    "client": 10,
    "school_staff": 5,
    "other": 5,
    None: 10,
}
FORM = {
    "refused": 35,
    "remark": 25,
    "unequal": 12,
    "harassment": 8,
    "sexual": 4,
    "violence": 1,
    "ended": 6,
    "other": 4,
    None: 5,
}
GROUNDS = {
    "origin": 35,
    "religion": 18,
    "name": 10,
    "disability": 8,
    "gender": 7,
    "appearance": 5,
    "language": 4,
    "age": 3,
    "nationality": 3,
    "education_level": 2,
    "orientation": 2,
    "pregnancy": 1,
    "other": 2,
    "unknown": 2,
}
CHANNEL = {"web": 80, "phone": 8, "visit": 8, "mail": 4}
OUTCOME = {
    "resolved": 25,
    "company_addressed": 20,
    "adv_closed": 5,
    "sbb_measure": 3,
    "no_action_wanted": 15,
    "not_substantiated": 8,
    "out_of_scope": 4,
    "withdrawn": 6,
    "duplicate": 2,
}
DECISION = {
    None: 30,
    "no_action": 20,
    "conversation": 20,
    "improvement": 15,
    "warning": 8,
    "suspension": 5,
    "revocation": 2,
}
# Internships start in September and February: reports cluster after them.
SEASON = {1: 6, 2: 10, 3: 11, 4: 9, 5: 7, 6: 5, 7: 2, 8: 3, 9: 10, 10: 12, 11: 11, 12: 6}


def _months(first: date, last: date) -> list[date]:
    months, current = [], first.replace(day=1)
    while current <= last:
        months.append(current)
        current = (current + timedelta(days=32)).replace(day=1)
    return months


def seed_world(
    reports: int,
    institutions: int,
    regions: int,
    first: date,
    last: date,
    seed: int = 12,
    consent_sbb: float = 0.3,
) -> list[Record]:
    """Insert `reports` reports over `institutions` institutions (sizes falling off like a
    real sector's) in `regions` regions, submitted between the months of `first` and `last`,
    through the app's own models; return the truth."""
    from stagepact.extensions import db
    from stagepact.models import Investigation, Referral
    from stagepact.vocab import (
        Channel,
        Decision,
        InvestigationOrigin,
        InvestigationStatus,
        Outcome,
        Role,
        Status,
    )
    from tests.factories import make_adv, make_case, make_company, make_institution, make_user

    rng = random.Random(seed)
    keys = random.Random(f"record keys {seed}")
    adv = make_adv()
    schools = [
        make_institution(region=f"Regio {chr(65 + i % regions)}", adv=adv)
        for i in range(institutions)
    ]
    handlers = {s.id: make_user(Role.HANDLER, s) for s in schools}
    reviewer = make_user(Role.SBB_REVIEWER)
    companies = [make_company() for _ in range(max(3, reports // 20))]
    size = {s.id: 1 / (rank + 1) ** 0.8 for rank, s in enumerate(schools)}
    months = _months(first, last)
    month_weights = [SEASON[m.month] for m in months]
    truth, cases = [], []
    for _ in range(reports):
        school = rng.choices(schools, weights=[size[s.id] for s in schools])[0]
        month = rng.choices(months, weights=month_weights)[0]
        day = rng.randint(1, 28)
        submitted = datetime(month.year, month.month, day, 11, rng.randint(0, 59))
        how_many = rng.choices([1, 2, 3, 0], weights=[70, 22, 5, 3])[0]
        grounds = set()
        while len(grounds) < how_many:
            grounds.add(_pick(rng, GROUNDS))
        phase, who, form = _pick(rng, PHASE), _pick(rng, WHO), _pick(rng, FORM)
        channel = _pick(rng, CHANNEL)
        case, _code = make_case(
            school,
            grounds=sorted(grounds),
            phase=phase,
            who=who,
            form=form,
            channel=Channel(channel),
            consent_sbb=rng.random() < consent_sbb,
        )
        case.submitted_at = submitted
        # Record keys as random as the app's, but from the seed, so that a verdict can be
        # replayed (from a generator of their own: the truth is the same as without them).
        case.record_key = keys.randrange(disclosure.RECORD_KEY_RANGE)
        case.ack_due_on = submitted.date() + timedelta(days=7)
        case.company_id = rng.choice(companies).id if rng.random() < 0.7 else None
        age_days = (last - submitted.date()).days
        outcome = None
        if rng.random() < 0.93:
            case.acknowledged_at = submitted + timedelta(days=rng.choice([0, 1, 1, 2, 3, 4, 6, 9]))
            case.feedback_due_on = case.acknowledged_at.date() + timedelta(days=90)
            case.status = Status.TRIAGE
            if age_days > 60 and rng.random() < 0.85:
                case.feedback_at = case.acknowledged_at + timedelta(days=rng.randint(5, 100))
                case.closed_at = case.feedback_at + timedelta(days=rng.randint(0, 30))
                outcome = _pick(rng, OUTCOME)
                if outcome == "duplicate":
                    if not cases:
                        outcome = "resolved"
                    else:
                        case.duplicate_of_id = rng.choice(cases).id
                case.outcome = Outcome(outcome)
                case.status = Status.CLOSED
        referred = rng.random() < 0.1
        if referred:
            db.session.add(
                Referral(
                    case=case,
                    adv_id=adv.id,
                    referred_by_id=handlers[school.id].id,
                    summary="Samenvatting.",
                )
            )
        escalated = case.company_id is not None and rng.random() < 0.07
        decision = None
        if escalated:
            decision = _pick(rng, DECISION)
            db.session.add(
                Investigation(
                    company_id=case.company_id,
                    origin=InvestigationOrigin.ESCALATION,
                    status=InvestigationStatus.DECIDED
                    if decision
                    else InvestigationStatus.RECEIVED,
                    case_id=case.id,
                    institution_id=school.id,
                    created_by_id=handlers[school.id].id,
                    summary="Samenvatting voor SBB.",
                    decision=Decision(decision) if decision else None,
                    decided_by_id=reviewer.id if decision else None,
                )
            )
        db.session.flush()
        cases.append(case)
        truth.append(
            Record(
                month=f"{submitted:%Y-%m}",
                institution=school.id,
                values=(
                    ("phase", phase or "not_given"),
                    ("who", who or "not_given"),
                    ("form", form or "not_given"),
                    (GROUND, frozenset(grounds) or frozenset({"not_given"})),
                    ("channel", channel),
                    ("outcome", outcome or "open"),
                    ("referred", "yes" if referred else "no"),
                    ("escalated", "yes" if escalated else "no"),
                    ("sbb_decision", decision or "none"),
                    # What SBB counts: the company of a report whose student consented to
                    # SBB and that counts (not a duplicate, not withdrawn).
                    (
                        "sbb_company",
                        str(case.company_id)
                        if case.company_id
                        and case.consent_sbb
                        and outcome not in ("duplicate", "withdrawn")
                        else "",
                    ),
                ),
            )
        )
    db.session.commit()
    return truth


# --- What a published cell says ------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """The reports a published number counts: submitted in one of `months`, at one of
    `institutions` (None: any), with each (dimension, codes) of `categories` (a report
    counts once per ground it has among the codes)."""

    months: frozenset[str]
    institutions: frozenset[int] | None
    categories: tuple[tuple[str, frozenset[str]], ...] = ()

    def weight(self, record: Record) -> int:
        """How many times the cell counts `record` (a report counts once per ground)."""
        if record.month not in self.months:
            return 0
        if self.institutions is not None and record.institution not in self.institutions:
            return 0
        weight = 1
        for dimension, codes in self.categories:
            value = record.value(dimension)
            weight *= len(value & codes) if dimension == GROUND else value in codes
            if not weight:
                return 0
        return weight

    def true_count(self, truth: list[Record]) -> int:
        return sum(self.weight(record) for record in truth)


@dataclass
class Published:
    cell: Cell
    low: float  # what the published value alone says about the true count
    high: float
    protected: bool  # hidden or perturbed: the value is not the true count as such
    perturbed: int | None = None  # the perturbed count behind it, for what-if readings


@dataclass
class Bounds:
    cell: Cell
    true: int
    own: tuple[float, float]  # from its own published value
    found: tuple[float, float]  # from every published cell together

    @property
    def exact(self) -> bool:
        return self.found[0] is not None and self.found[0] == self.found[1]

    def inside(self, end: int) -> bool:
        """The lower (0) or upper (1) end the attacker found lies inside what the cell's
        own value allows (False while that end is not solved)."""
        found = self.found[end]
        if found is None:
            return False
        return found < self.own[1] if end else found > max(self.own[0], 0)

    @property
    def narrowed(self) -> bool:
        return self.inside(0) or self.inside(1)

    @property
    def contradicts(self) -> bool:
        """An end the attacker found excludes the true count: a bug in the attack or the
        method, never an attacker's gain."""
        low, high = self.found
        return (low is not None and low > self.true) or (high is not None and high < self.true)

    @property
    def undecided(self) -> bool:
        """Not shown narrowed, and an end was not solved (`intervals` with a sample)."""
        return not self.narrowed and None in self.found


# --- What each role can obtain, as the app serves it ----------------------------------------------------------------


def _period_months(period: statistics.Period) -> frozenset[str]:
    return frozenset(f"{m // 100}-{m % 100:02d}" for m in period.months)


def _interval(cell: statistics.Cell) -> tuple[float, float]:
    shown = disclosure.SMALL if cell.hidden == disclosure.SMALL else cell.value
    feasible = disclosure.feasible_counts(shown, THRESHOLD)
    return feasible.start, feasible.stop - 1


def _codes(dimension: str, code: str, coarse: bool) -> frozenset[str]:
    if not coarse:
        return frozenset({code})
    merged = statistics.DIMENSIONS[dimension]
    return frozenset(c for c in merged.labels if merged.coarse_code(c) == code)


class Reader:
    """Turns the app's tables into published cells: which reports, and the interval."""

    def __init__(self, regions: dict[int, str]):
        self.regions = regions
        self.cells: list[Published] = []

    def add(self, months, institutions, categories, cell: statistics.Cell, exact: int | None):
        spec = Cell(months, institutions, tuple(sorted(categories)))
        if exact is not None:
            assert cell.value == exact, "an institution's own figures are exact"
            self.cells.append(Published(spec, exact, exact, False))
        else:
            low, high = _interval(cell)
            self.cells.append(Published(spec, low, high, True, cell.value))

    def table(self, table: statistics.Table, truth=None, everyone=None, own=None):
        """Every count of a table: its cells, margins and total."""
        query = table.query
        coarse = query.level == "institution"
        scope = frozenset(own) if own else everyone

        def exact(spec_months, institutions, categories):
            if own is None:
                return None
            return Cell(spec_months, institutions, tuple(sorted(categories))).true_count(truth)

        if query.trend:
            periods = statistics.publication().periods(query.trend)
            name = query.dimensions[0] if query.dimensions else None
            for r, period in enumerate(periods):
                months = _period_months(period)
                if name:
                    for c, code in enumerate(table.col_keys):
                        categories = [(name, frozenset({code}))]
                        self.add(months, scope, categories, table.counts[r][c], None)
                self.add(months, scope, [], table.counts[r][-1], None)
            return
        months = _period_months(query.period)
        if table.col_axis is None:  # one-way, sector (or an institution's own or rest)
            (name,) = query.dimensions
            for r, code in enumerate(table.row_keys):
                categories = [(name, frozenset({code}))]
                value = exact(months, scope, categories)
                self.add(months, scope, categories, table.counts[r][0], value)
            self.add(months, scope, [], table.counts[-1][0], exact(months, scope, []))
            return
        if query.level == "sector":
            a, b = query.dimensions
            for r, row in enumerate(table.row_keys):
                for c, col in enumerate(table.col_keys):
                    categories = [(a, frozenset({row})), (b, frozenset({col}))]
                    self.add(months, scope, categories, table.counts[r][c], None)
                self.add(months, scope, [(a, frozenset({row}))], table.counts[r][-1], None)
            for c, col in enumerate(table.col_keys):
                self.add(months, scope, [(b, frozenset({col}))], table.counts[-1][c], None)
            self.add(months, scope, [], table.counts[-1][-1], None)
            return
        (name,) = query.dimensions
        for r, unit in enumerate(table.row_keys):
            if coarse:
                institutions = frozenset({int(unit)})
            else:
                institutions = frozenset(i for i, region in self.regions.items() if region == unit)
            for c, code in enumerate(table.col_keys):
                categories = [(name, _codes(name, code, coarse))]
                self.add(months, institutions, categories, table.counts[r][c], None)
            self.add(months, institutions, [], table.counts[r][-1], None)
        for c, code in enumerate(table.col_keys):
            categories = [(name, _codes(name, code, coarse))]
            self.add(months, scope, categories, table.counts[-1][c], None)
        self.add(months, scope, [], table.counts[-1][-1], None)


def _served() -> list[statistics.Period]:
    found = statistics.publication()
    return [p for kind in statistics.PERIOD_KINDS for p in found.periods(kind)]


def monitor_cells(regions) -> list[Published]:
    reader = Reader(regions)
    names = list(statistics.DIMENSIONS)
    for period in _served():
        for a in names:
            reader.table(statistics.table(statistics.Query(period, "sector", (a,))))
            reader.table(statistics.table(statistics.Query(period, "region", (a,))))
            if period.kind == "school_year":
                reader.table(statistics.table(statistics.Query(period, "institution", (a,))))
            for b in names:
                if b != a:
                    reader.table(statistics.table(statistics.Query(period, "sector", (a, b))))
    for kind in statistics.PERIOD_KINDS:
        for dims in [(), *[(name,) for name in names]]:
            query = statistics.Query(None, "sector", dims, trend=kind)
            reader.table(statistics.table(query))
    return reader.cells


def institution_cells(regions, own: int, truth) -> list[Published]:
    reader = Reader(regions)
    rest = frozenset(i for i in regions if i != own)
    for period in _served():
        for name in statistics.DIMENSIONS:
            query = statistics.Query(period, "sector", (name,))
            reader.table(statistics.own_table(query, own), truth=truth, own={own})
            rest_query = statistics.Query(period, "sector", (name,), excluding=own)
            reader.table(statistics.table(rest_query), everyone=rest)
    return reader.cells


def sbb_cells(first: date, last: date) -> list[Published]:
    from stagepact import signals

    cells = []
    every_month = frozenset(
        f"{y}-{m:02d}" for y in range(first.year, last.year + 1) for m in range(1, 13)
    )
    for company_id in db.session.scalars(sa.select(Company.id)):
        counts = signals.company_counts(company_id)
        category = (("sbb_company", frozenset({str(company_id)})),)
        for year, cell in counts.reports.items():
            months = frozenset(f"{year}-{m:02d}" for m in range(1, 13))
            low, high = _interval(cell)
            cells.append(Published(Cell(months, None, category), low, high, True))
        if counts.years:
            low, high = _interval(counts.total)
            cells.append(Published(Cell(every_month, None, category), low, high, True))
    return cells


def vocabulary(truth) -> dict[str, list[str]]:
    found = {name: list(d.labels) for name, d in statistics.DIMENSIONS.items()}
    companies = db.session.scalars(sa.select(Company.id)).all()
    found["sbb_company"] = sorted({"", *(str(c) for c in companies)})
    return found


# --- The linear program -----------------------------------------------------------------------


def _partition(universe: list, sets: list[frozenset]) -> dict:
    """Elements of `universe` grouped by which of `sets` hold them: element -> atom index."""
    signature = {e: tuple(e in s for s in sets) for e in universe}
    atoms: dict[tuple, int] = {}
    return {e: atoms.setdefault(signature[e], len(atoms)) for e in universe}


@dataclass
class Attack:
    """Every published cell of one role, and the linear program they give together."""

    published: list[Published]
    months: list[str]
    institutions: list[int]
    vocabulary: dict[str, list[str]]  # dimension -> every code it can take
    full: bool = True  # both ends of every interval (False: only what the verdict needs)
    _columns: dict = field(default_factory=dict)

    def __post_init__(self):
        cells = [p.cell for p in self.published]
        month_sets = sorted({c.months for c in cells}, key=sorted)
        unit_sets = sorted({c.institutions for c in cells if c.institutions}, key=sorted)
        self.time_atom = _partition(self.months, month_sets)
        self.unit_atom = _partition(self.institutions, unit_sets)
        self.n_time = len(set(self.time_atom.values()))
        self.n_unit = len(set(self.unit_atom.values()))
        # Two-way families, one per pair of dimensions and set of institutions they cover
        # (the whole sector, or an institution's rest of the sector, or its own).
        self.pairs = sorted(
            {
                (*tuple(d for d, _ in c.categories), self._scope(c.institutions))
                for c in cells
                if len(c.categories) == 2
            },
            key=repr,
        )
        self._build()

    def _scope(self, institutions) -> tuple[int, ...]:
        return tuple(sorted(self._units(institutions)))

    # Variables: T[t, u] the reports of a time and unit atom; Y[d][t, u, v] those with code v
    # of dimension d (a ground once per report that has it); X[(a, b, scope)][t, va, vb] the
    # pairs over the institutions of a scope.
    def _var(self, key) -> int:
        if key not in self._columns:
            self._columns[key] = len(self._columns)
        return self._columns[key]

    def _times(self, months) -> set[int]:
        return {self.time_atom[m] for m in months}

    def _units(self, institutions) -> set[int]:
        if institutions is None:
            return set(range(self.n_unit))
        return {self.unit_atom[i] for i in institutions}

    def expression(self, cell: Cell) -> list[int]:
        """The variables whose sum is the cell's true count."""
        times, units = self._times(cell.months), self._units(cell.institutions)
        if not cell.categories:
            return [self._var(("T", t, u)) for t in sorted(times) for u in sorted(units)]
        if len(cell.categories) == 1:
            ((dimension, codes),) = cell.categories
            return [
                self._var(("Y", dimension, t, u, v))
                for t in sorted(times)
                for u in sorted(units)
                for v in sorted(codes)
            ]
        (a, codes_a), (b, codes_b) = cell.categories
        scope = self._scope(cell.institutions)
        return [
            self._var(("X", a, b, scope, t, va, vb))
            for t in sorted(times)
            for va in sorted(codes_a)
            for vb in sorted(codes_b)
        ]

    def _build(self):
        rows: list[tuple[dict[int, float], float, float]] = []

        def add(terms: dict[int, float], low: float, high: float):
            rows.append((terms, low, high))

        dimensions = sorted({d for p in self.published for d, _ in p.cell.categories})
        for t in range(self.n_time):
            for u in range(self.n_unit):
                total = self._var(("T", t, u))
                for d in dimensions:
                    ys = [self._var(("Y", d, t, u, v)) for v in self.vocabulary[d]]
                    terms = dict.fromkeys(ys, 1.0)
                    terms[total] = -1.0
                    if d == GROUND:  # at least one ground per report, none twice
                        add(terms, 0, math.inf)
                        for y in ys:
                            add({y: 1.0, total: -1.0}, -math.inf, 0)
                    else:
                        add(terms, 0, 0)
        for a, b, scope in self.pairs:
            for t in range(self.n_time):
                for side, other in ((a, b), (b, a)):
                    for v in self.vocabulary[side]:
                        xs = [
                            self._var(
                                ("X", a, b, scope, t, v, w)
                                if side == a
                                else ("X", a, b, scope, t, w, v)
                            )
                            for w in self.vocabulary[other]
                        ]
                        margin = [self._var(("Y", side, t, u, v)) for u in scope]
                        terms = dict.fromkeys(xs, 1.0)
                        for y in margin:
                            terms[y] = terms.get(y, 0.0) - 1.0
                        # Each (report, code of `side`) has one code of `other`, unless
                        # `other` is the ground: then at least one.
                        if other == GROUND:
                            add(terms, 0, math.inf)
                        else:
                            add(terms, 0, 0)
        # Each distinct cell once, with what all its appearances say together.
        for cell, (low, high) in self.own_bounds().items():
            terms = dict.fromkeys(self.expression(cell), 1.0)
            add(terms, low, high)
        self.rows = rows

    def own_bounds(self) -> dict[Cell, tuple[float, float]]:
        bounds: dict[Cell, tuple[float, float]] = {}
        for p in self.published:
            low, high = bounds.get(p.cell, (-math.inf, math.inf))
            bounds[p.cell] = (max(low, p.low), min(high, p.high))
        return bounds

    def _highs(self):
        """The linear program in HiGHS: every atom at least 0 (0 where a cell published as 0
        holds it), every structural and published row."""
        import highspy

        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        n = len(self._columns)
        infinity = highspy.kHighsInf
        upper = np.full(n, infinity)
        for cell, (_low, high) in self.own_bounds().items():
            if high == 0:  # a cell published as exactly 0: every piece of it is 0
                upper[self.expression(cell)] = 0
        h.addVars(n, np.zeros(n), upper)
        starts, index, value, lower, upper_rows = [], [], [], [], []
        for terms, low, high in self.rows:
            starts.append(len(index))
            index.extend(terms)
            value.extend(terms.values())
            lower.append(-infinity if low == -math.inf else low)
            upper_rows.append(infinity if high == math.inf else high)
        h.addRows(
            len(self.rows),
            np.array(lower, dtype=float),
            np.array(upper_rows, dtype=float),
            len(index),
            np.array(starts, dtype=np.int32),
            np.array(index, dtype=np.int32),
            np.array(value, dtype=float),
        )
        return h

    def _objective(self, h, weights: dict[int, float]) -> None:
        previous = getattr(self, "_previous", [])
        if previous:
            zeros = np.zeros(len(previous))
            h.changeColsCost(len(previous), np.array(previous, dtype=np.int32), zeros)
        columns = list(weights)
        h.changeColsCost(
            len(columns),
            np.array(columns, dtype=np.int32),
            np.array([weights[c] for c in columns], dtype=float),
        )
        self._previous = columns

    def _run(self, h, sense) -> float:
        import highspy

        h.changeObjectiveSense(sense)
        h.run()
        status = h.getModelStatus()
        if status == highspy.HighsModelStatus.kOptimal:
            return h.getInfo().objective_function_value
        if status == highspy.HighsModelStatus.kUnbounded:
            return math.inf if sense == highspy.ObjSense.kMaximize else -math.inf
        raise AssertionError(f"the published cells are inconsistent: {status}")

    def unpinned(self, targets: list[Cell], truth: list[Record], rounds: int = 40) -> set[Cell]:
        """Targets shown not to be pinned by another consistent table: a solution of the
        program in which the target is at least 1 away from its true count (then the
        attacker's interval holds both). Each round solves one program for all targets
        left at once, pushing each away from its true count: up when its own published
        value allows nothing lower, down when it allows nothing higher, otherwise up or
        down in turn and then at random. Rounds stop when one frees no target; only the
        few left then need a program of their own (`solve`)."""
        import highspy

        h = self._highs()
        h.setOptionValue("solver", "ipm")  # far faster than simplex on these programs
        own = self.own_bounds()
        true = {cell: cell.true_count(truth) for cell in targets}
        left = set(targets)
        rng = random.Random(5)
        for round_ in range(rounds):
            if not left:
                break
            weights: dict[int, float] = {}
            for cell in sorted(left, key=repr):
                low, high = own.get(cell, (0, math.inf))
                if true[cell] - 1 < max(low, 0):
                    sign = 1
                elif true[cell] + 1 > high:
                    sign = -1
                else:
                    sign = (1, -1)[round_ % 2] if round_ < 2 else rng.choice((1, -1))
                for column in self.expression(cell):
                    weights[column] = weights.get(column, 0.0) + sign
            self._objective(h, weights)
            self._run(h, highspy.ObjSense.kMaximize)
            solution = np.array(h.getSolution().col_value)
            before = len(left)
            for cell in list(left):
                value = solution[self.expression(cell)].sum()
                if abs(value - true[cell]) >= 1 - 1e-6:
                    left.discard(cell)
            if round_ >= 2 and len(left) == before:
                break
        return set(targets) - left

    def intervals(
        self, targets: list[Cell], progress=None, sample: int | None = None, stats=None
    ) -> dict[Cell, tuple[float | None, float | None]]:
        """Both ends of every target's interval, for the "narrowed" figure.

        An end is settled when a solution puts the target at the end its own published
        value allows (nothing tighter can be found there). Each round solves one program
        pushing every unsettled target towards that end at once, with random weights so
        that targets competing for the same reports take turns; rounds stop when three in
        a row settle next to nothing, and each target left gets a program of its own; with
        `sample`, only that many of them (drawn at random), and the others' end is None.
        `stats` (a dict) receives, per end, how many were left and which were solved."""
        import highspy

        h = self._highs()
        h.setOptionValue("solver", "ipm")
        own = self.own_bounds()
        found: dict[Cell, list[float]] = {}
        rng = random.Random(11)
        for side, sense in ((1, highspy.ObjSense.kMaximize), (0, highspy.ObjSense.kMinimize)):
            goal = {cell: max(own.get(cell, (0, math.inf))[side], 0) for cell in targets}
            best = {cell: -math.inf if side else math.inf for cell in targets}
            left = {cell for cell in targets if math.isfinite(goal[cell])}
            idle = 0
            while left and idle < 3:
                weights: dict[int, float] = {}
                for cell in sorted(left, key=repr):
                    weight = rng.uniform(0.2, 1.0)
                    for column in self.expression(cell):
                        weights[column] = weights.get(column, 0.0) + weight
                self._objective(h, weights)
                self._run(h, sense)
                solution = np.array(h.getSolution().col_value)
                before = len(left)
                for cell in list(left):
                    value = solution[self.expression(cell)].sum()
                    better = max if side else min
                    best[cell] = better(best[cell], value)
                    if abs(best[cell] - goal[cell]) < 1e-6:
                        left.discard(cell)
                # A round that settles next to nothing leaves targets that are narrowed
                # or contended: each gets a program of its own.
                idle = idle + 1 if before - len(left) < max(3, before // 100) else 0
                if progress:
                    progress(f"{'upper' if side else 'lower'} ends: {len(left)} left", None)
            alone = sorted(left, key=repr)
            if sample is not None and len(alone) > sample:
                alone = random.Random(13).sample(alone, sample)
            if stats is not None:
                stats["upper" if side else "lower"] = (len(left), list(alone))
            for number, cell in enumerate(alone):
                self._objective(h, dict.fromkeys(self.expression(cell), 1.0))
                best[cell] = self._run(h, sense)
                if progress and number % 20 == 0:
                    progress(number, len(alone))
            for cell in targets:
                if cell in left and cell not in alone:
                    found.setdefault(cell, [None, None])[side] = None
                    continue
                end = goal[cell] if cell not in left and math.isfinite(goal[cell]) else best[cell]
                # Counts are whole: round inwards, with room for the solver's tolerance.
                rounded = math.floor(end + 1e-6) if side else math.ceil(end - 1e-6)
                found.setdefault(cell, [None, None])[side] = rounded
        return {cell: (low, high) for cell, (low, high) in found.items()}

    def solve(
        self, targets: list[Cell], truth: list[Record], progress=None, solver: str = "simplex"
    ) -> dict[Cell, tuple[float, float]]:
        """Bounds of each target. A target is first pushed away from its true count in one
        direction; only when that fails is the other direction solved, so that a cell the
        attacker cannot pin costs one solve rather than two."""
        import highspy

        h = self._highs()
        h.setOptionValue("solver", solver)
        found = {}
        for number, cell in enumerate(targets):
            self._objective(h, dict.fromkeys(self.expression(cell), 1.0))
            true = cell.true_count(truth)
            # Counts are whole: round inwards, with room for the solver's tolerance.
            high = math.floor(self._run(h, highspy.ObjSense.kMaximize) + 1e-6)
            if high > true and not self.full:
                low = true  # not pinned; the lower end is not needed for the verdict
            else:
                low = math.ceil(self._run(h, highspy.ObjSense.kMinimize) - 1e-6)
            found[cell] = (low, high)
            if progress and number % 50 == 0:
                progress(number, len(targets))
        return found


def attack(
    published: list[Published],
    truth: list[Record],
    institutions: list[int],
    vocabulary: dict[str, list[str]],
    targets=None,
    progress=None,
    full: bool = True,
) -> list[Bounds]:
    """The bounds an attacker finds for each protected cell (or `targets`)."""
    months = sorted({m for p in published for m in p.cell.months})
    model = Attack(published, months, institutions, vocabulary, full)
    own = model.own_bounds()
    wanted = targets if targets is not None else [p.cell for p in published if p.protected]
    wanted = list(dict.fromkeys(wanted))
    found = model.solve(wanted, truth, progress)
    return [Bounds(c, c.true_count(truth), own.get(c, (0, math.inf)), found[c]) for c in wanted]


def pinned(
    published: list[Published],
    truth: list[Record],
    institutions: list[int],
    vocabulary: dict[str, list[str]],
    targets: list[Cell],
) -> list[Bounds]:
    """The targets the attacker pins to one value: the verdict of the attack, fast.

    Most targets are shown free by a few programs solved for all of them at once
    (`Attack.unpinned`); each one left gets both ends of its interval."""
    months = sorted({m for p in published for m in p.cell.months})
    model = Attack(published, months, institutions, vocabulary, full=True)
    own = model.own_bounds()
    targets = list(dict.fromkeys(targets))
    free = model.unpinned(targets, truth)
    left = [cell for cell in targets if cell not in free]
    found = model.solve(left, truth, solver="ipm")
    bounds = [Bounds(c, c.true_count(truth), own.get(c, (0, math.inf)), found[c]) for c in left]
    return [b for b in bounds if b.exact or b.contradicts]


def intervals(
    published: list[Published],
    truth: list[Record],
    institutions: list[int],
    vocabulary: dict[str, list[str]],
    targets: list[Cell],
    progress=None,
    sample: int | None = None,
    stats: dict | None = None,
) -> list[Bounds]:
    """Both ends of every target's interval (`Attack.intervals`): what `figures` needs to
    count the cells narrowed as well as those pinned. With `sample`, an end that the
    rounds did not settle is solved for that many targets only, and is None for the rest."""
    months = sorted({m for p in published for m in p.cell.months})
    model = Attack(published, months, institutions, vocabulary, full=True)
    own = model.own_bounds()
    targets = list(dict.fromkeys(targets))
    found = model.intervals(targets, progress, sample, stats)
    return [Bounds(c, c.true_count(truth), own.get(c, (0, math.inf)), found[c]) for c in targets]


@dataclass
class Figures:
    cells: int  # distinct published cells
    protected: int  # of which hidden or perturbed
    recovered: int  # protected cells whose true count the attacker pins exactly
    narrowed: int  # protected cells pinned more tightly than their own value says
    small: int  # protected cells with a true count of 1 to 4
    small_recovered: int
    single_reports: int  # cells of one report pinned exactly: that report disclosed
    wrong: int  # bounds that exclude the truth: a bug in the attack or the method

    def lines(self) -> list[str]:
        share = self.recovered / self.protected if self.protected else 0
        return [
            f"distinct published cells          {self.cells:>8,}",
            f"protected (hidden or perturbed)   {self.protected:>8,}",
            f"  recovered exactly               {self.recovered:>8,}  ({share:.1%})",
            f"  narrowed                        {self.narrowed:>8,}",
            f"protected with a true count 1-4   {self.small:>8,}",
            f"  recovered exactly               {self.small_recovered:>8,}",
            f"single reports pinned             {self.single_reports:>8,}",
            f"bounds contradicting the truth    {self.wrong:>8,}",
        ]


def figures(published: list[Published], bounds: list[Bounds]) -> Figures:
    protected = {b.cell: b for b in bounds}
    small = [b for b in bounds if b.true in SMALL]
    return Figures(
        cells=len({p.cell for p in published}),
        protected=len(protected),
        recovered=sum(b.exact for b in bounds),
        narrowed=sum(b.narrowed for b in bounds),
        small=len(small),
        small_recovered=sum(b.exact for b in small),
        single_reports=sum(b.exact and b.true == 1 for b in bounds),
        wrong=sum(b.contradicts for b in bounds),
    )
