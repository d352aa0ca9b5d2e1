"""Counts of reports for monitors and institutions: a monthly rollup built in SQL, tables
summed from it over closed periods, every number through disclosure control.

- `publish` (the `publish-statistics` command, daily from cron) rebuilds the rollup
  (`models.RollupRow`) from the cases, off the request path, with one
  INSERT ... SELECT ... GROUP BY per table shape: per month and institution, the
  reports of each one-way cell with their deadline counts; per month, the sector-wide
  two-way cells and the histograms of handling days. Each cell carries the sum of its
  reports' record keys.
- `table` serves a closed period (a quarter, a school year, a calendar year) or a trend
  over such periods, summed from the rollup, and hands each cell's (count, key sum) to
  `disclosure`: the same reports give the same number in every table, export and API
  answer, however they were asked for. Only periods that had ended when the rollup was
  built are served; a single month or an arbitrary range never is (docs/statistics.md).
- `own_table` is an institution's own reports, exact and live: those are its own cases.

Totals are cells of their own (the perturbed count of all the reports they cover), not
sums of the perturbed cells beside them; the pages and exports say so.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from . import disclosure, scoping, vocab
from .deadlines import add_months, local_date
from .deadlines import today as local_today
from .extensions import db
from .models import (
    Case,
    CaseGround,
    Institution,
    Investigation,
    Referral,
    RollupRow,
    StatisticsPublication,
    month_number,
    utcnow,
)

# A field left empty; distinct from the ground "unknown" ("Weet ik niet") a student can choose.
UNKNOWN = "not_given"
YES, NO = "yes", "no"
TOTAL = "total"


# --- Dimensions -----------------------------------------------------------------------


@dataclass(frozen=True)
class Dimension:
    name: str
    label: object
    labels: dict  # code -> label, in display order
    # Per institution, rare categories are merged: code -> merged code (others stay).
    coarse: dict = field(default_factory=dict)
    coarse_labels: dict = field(default_factory=dict)

    def coarse_code(self, code: str) -> str:
        return self.coarse.get(code, code)

    def coarse_keys(self) -> dict:
        """The codes and labels of this dimension per institution, in display order."""
        keys = {}
        for code, label in self.labels.items():
            merged = self.coarse_code(code)
            keys.setdefault(merged, self.coarse_labels.get(merged, label))
        return keys


def _with_unknown(labels: dict) -> dict:
    return {**{str(k): v for k, v in labels.items()}, UNKNOWN: _l("Niet ingevuld")}


def _merge(codes, into: str) -> dict:
    return {str(code): into for code in codes}


YES_NO = {YES: _l("Ja"), NO: _l("Nee")}

DIMENSIONS: dict[str, Dimension] = {
    d.name: d
    for d in (
        Dimension(
            "phase",
            _l("Fase"),
            _with_unknown(vocab.PHASES),
            _merge(("school", "other", UNKNOWN), "other_phase"),
            {"other_phase": _l("Op school, anders of niet ingevuld")},
        ),
        Dimension(
            "ground",
            _l("Grond"),
            _with_unknown(vocab.GROUNDS),
            _merge(
                (
                    "orientation",
                    "age",
                    "nationality",
                    "pregnancy",
                    "education_level",
                    "appearance",
                    "language",
                    "other",
                    "unknown",
                    UNKNOWN,
                ),
                "other_ground",
            ),
            {"other_ground": _l("Een andere grond, onbekend of niet ingevuld")},
        ),
        Dimension(
            "form",
            _l("Vorm"),
            _with_unknown(vocab.FORMS),
            _merge(("sexual", "violence", "ended", "other", UNKNOWN), "other_form"),
            {"other_form": _l("Een andere vorm of niet ingevuld")},
        ),
        Dimension(
            "who",
            _l("Wie"),
            _with_unknown(vocab.WHO),
            _merge(("client", "school_staff", "other", UNKNOWN), "other_who"),
            {"other_who": _l("Iemand anders of niet ingevuld")},
        ),
        Dimension(
            "channel",
            _l("Kanaal"),
            {str(k): v for k, v in vocab.CHANNEL_LABELS.items()},
            _merge(("phone", "visit", "mail"), "other_channel"),
            {"other_channel": _l("Telefoon, bezoek, mail of brief")},
        ),
        Dimension(
            "outcome",
            _l("Uitkomst"),
            {"open": _l("Nog open"), **{str(k): v for k, v in vocab.OUTCOME_LABELS.items()}},
            {
                **_merge(("resolved", "company_addressed", "adv_closed", "sbb_measure"), "acted"),
                **_merge(
                    (
                        "no_action_wanted",
                        "not_substantiated",
                        "out_of_scope",
                        "withdrawn",
                        "duplicate",
                    ),
                    "other_outcome",
                ),
            },
            {
                "acted": _l("Opgelost of aangepakt (ook door ADV of SBB)"),
                "other_outcome": _l("Geen verdere actie, buiten het meldpunt of ingetrokken"),
            },
        ),
        Dimension("referred", _l("Doorverwezen naar ADV"), YES_NO),
        Dimension("escalated", _l("Doorgezet naar SBB"), YES_NO),
        Dimension(
            "sbb_decision",
            _l("Besluit SBB"),
            {"none": _l("Geen besluit"), **{str(k): v for k, v in vocab.DECISION_LABELS.items()}},
            _merge(vocab.DECISION_LABELS, "decided"),
            {"decided": _l("Besluit genomen")},
        ),
    )
}
# Two-way shapes are stored once per pair, in this order of the dimensions.
ORDER = list(DIMENSIONS)

LEVELS = {
    "sector": _l("Hele sector"),
    "region": _l("Per regio"),
    "institution": _l("Per instelling (alleen per schooljaar)"),
}

MEASURES = {
    "count": _l("Aantal meldingen"),
    "median_ack_days": _l("Mediaan dagen tot bevestiging"),
    "median_close_days": _l("Mediaan dagen tot afsluiten"),
    "ack_on_time": _l("Deel op tijd bevestigd"),
    "feedback_on_time": _l("Deel op tijd teruggekoppeld"),
}
DEADLINES = ("ack", "feedback")


# --- Periods ------------------------------------------------------------------------------

PERIOD_KINDS = {
    "quarter": _l("Kwartaal"),
    "school_year": _l("Schooljaar (1 augustus tot 1 augustus)"),
    "year": _l("Kalenderjaar"),
}


@dataclass(frozen=True)
class Period:
    kind: str
    start: date  # first day
    end: date  # the day after the last
    label: str
    code: str  # stable: 2025-q1, 2024-2025, 2025

    @property
    def months(self) -> list[int]:
        found, current = [], self.start
        while current < self.end:
            found.append(month_number(current))
            current = add_months(current, 1)
        return found


def quarter(year: int, number: int) -> Period:
    start = date(year, 3 * (number - 1) + 1, 1)
    return Period("quarter", start, add_months(start, 3), f"{year} Q{number}", f"{year}-q{number}")


def school_year(first_year: int) -> Period:
    """1 August to 31 July, as MBO school years run."""
    label = f"{first_year}-{first_year + 1}"
    return Period("school_year", date(first_year, 8, 1), date(first_year + 1, 8, 1), label, label)


def calendar_year(year: int) -> Period:
    return Period("year", date(year, 1, 1), date(year + 1, 1, 1), str(year), str(year))


def period_of(kind: str, year: int, number: int = 1) -> Period:
    if kind == "quarter":
        return quarter(year, number)
    if kind == "school_year":
        return school_year(year)
    return calendar_year(year)


def _periods_between(kind: str, first: date, end: date) -> list[Period]:
    """Every period of `kind` that overlaps [first, end) and ends by `end`, oldest first."""
    if kind == "quarter":
        candidates = [quarter(y, q) for y in range(first.year, end.year + 1) for q in (1, 2, 3, 4)]
    elif kind == "school_year":
        candidates = [school_year(y) for y in range(first.year - 1, end.year + 1)]
    else:
        candidates = [calendar_year(y) for y in range(first.year, end.year + 1)]
    return [p for p in candidates if p.end > first and p.end <= end]


@dataclass(frozen=True)
class Publication:
    """What the rollup covers: reports from `first` on, figures as of `computed_at`."""

    computed_at: datetime
    first: date | None  # the first month with reports
    as_of: date  # the Dutch date of computed_at: periods that ended by then are served

    def periods(self, kind: str) -> list[Period]:
        if self.first is None:
            return []
        return _periods_between(kind, self.first, self.as_of)

    def serves(self, period: Period) -> bool:
        return period in self.periods(period.kind)


def publication() -> Publication | None:
    latest = db.session.scalar(
        sa.select(StatisticsPublication).order_by(StatisticsPublication.id.desc()).limit(1)
    )
    if latest is None:
        return None
    first = db.session.scalar(sa.select(sa.func.min(RollupRow.month)))
    first_day = date(first // 100, first % 100, 1) if first else None
    return Publication(latest.computed_at, first_day, local_date(latest.computed_at))


# --- The query ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """A table: a closed period, or a trend (rows are the closed periods of one kind)."""

    period: Period | None
    level: str = "sector"
    dimensions: tuple[str, ...] = ("phase",)
    excluding: int | None = None  # the rest of the sector, beside an institution's own
    trend: str | None = None  # the period kind of a trend

    @property
    def axes(self) -> tuple[str, ...]:
        """What the rows (and columns) are split by."""
        if self.trend:
            return ("period", *self.dimensions[:1])
        if self.level != "sector":
            return (self.level, *self.dimensions[:1])
        return self.dimensions


# --- The rollup: built off the request path -----------------------------------------------


@dataclass
class _From:
    """The FROM clause the axes need, joined once."""

    needs_ground: bool = False
    referred: object = None
    escalated: object = None
    decision: object = None


def _axis_expression(name: str, joins: _From):
    if name == "ground":
        joins.needs_ground = True
        return sa.func.coalesce(CaseGround.ground, UNKNOWN)
    if name in ("phase", "form", "who"):
        return sa.func.coalesce(getattr(Case, name), UNKNOWN)
    if name == "channel":
        return sa.type_coerce(Case.channel, sa.String)
    if name == "outcome":
        return sa.func.coalesce(sa.type_coerce(Case.outcome, sa.String), "open")
    if name == "referred":
        joins.referred = sa.select(Referral.case_id).distinct().subquery("referred")
        return sa.case((joins.referred.c.case_id.is_(None), NO), else_=YES)
    if name == "escalated":
        joins.escalated = (
            sa.select(Investigation.case_id)
            .where(Investigation.case_id.is_not(None))
            .distinct()
            .subquery("escalated")
        )
        return sa.case((joins.escalated.c.case_id.is_(None), NO), else_=YES)
    if name == "sbb_decision":
        latest = (
            sa.select(
                Investigation.case_id.label("case_id"), sa.func.max(Investigation.id).label("id")
            )
            .where(Investigation.case_id.is_not(None))
            .group_by(Investigation.case_id)
            .subquery("latest_investigation")
        )
        decided = (
            sa.select(latest.c.case_id, Investigation.decision)
            .join(Investigation, Investigation.id == latest.c.id)
            .subquery("decision")
        )
        joins.decision = decided
        return sa.func.coalesce(sa.type_coerce(decided.c.decision, sa.String), "none")
    raise ValueError(name)


def _from(axes: tuple[str, ...]):
    """The axes' code expressions (labelled k0, k1), and a function that gives a SELECT the
    FROM clause they need (the reports, joined once to what the axes read)."""
    joins = _From()
    keys = [_axis_expression(axis, joins).label(f"k{i}") for i, axis in enumerate(axes)]

    def with_from(select: sa.Select) -> sa.Select:
        select = select.select_from(Case)
        if joins.needs_ground:
            select = select.outerjoin(CaseGround, CaseGround.case_id == Case.id)
        for sub in (joins.referred, joins.escalated, joins.decision):
            if sub is not None:
                select = select.outerjoin(sub, sub.c.case_id == Case.id)
        return select

    return keys, with_from


def _select(axes: tuple[str, ...], columns: list) -> tuple[sa.Select, list]:
    """SELECT the axes' codes and `columns` FROM the reports, joined as the axes need."""
    keys, with_from = _from(axes)
    return with_from(sa.select(*keys, *columns)), keys


def _deadline_columns(today: date) -> list:
    """Per deadline: the reports that met it, and those for which it fell due (met, missed,
    or still open after its date), each as (count, key sum)."""
    key = Case.record_key
    conditions = {
        "ack_met": Case.ack_on_time.is_(True),
        "ack_due": Case.ack_fell_due(today),
        "feedback_met": Case.feedback_on_time.is_(True),
        "feedback_due": Case.feedback_fell_due(today),
    }
    columns = []
    for name, condition in conditions.items():
        columns.append(sa.func.sum(sa.case((condition, 1), else_=0)).label(f"{name}_n"))
        columns.append(sa.func.sum(sa.case((condition, key), else_=0)).label(f"{name}_key"))
    return columns


NULL_INSTITUTION = sa.cast(sa.null(), sa.Integer)
COUNT_NAMES = ["month", "institution_id", "shape", "first", "second", "kind", "days", "n"]
COUNT_NAMES += ["key_sum"]  # the order of the columns every rollup SELECT gives
SHARE_NAMES = [f"{d}_{p}_{x}" for d in DEADLINES for p in ("met", "due") for x in ("n", "key")]


def _shape(axes: tuple[str, ...]) -> str:
    return "/".join(axes)


def _rollup_statements(today: date) -> list:
    """One INSERT ... SELECT ... GROUP BY per shape: set-based, no report read into Python."""
    month = Case.submitted_month
    count = [sa.func.count().label("n"), sa.func.sum(Case.record_key).label("key_sum")]
    no_days = sa.cast(sa.null(), sa.Integer)
    statements = []

    def insert(axes, leading, extra, groups, names, where=None):
        keys, with_from = _from(axes)
        codes = [*keys, *[sa.literal("")] * (2 - len(keys))]
        select = with_from(sa.select(*leading[:3], *codes, *leading[3:], *count, *extra))
        if where is not None:
            select = select.where(where)
        statements.append(sa.insert(RollupRow).from_select(names, select.group_by(*groups, *keys)))

    # Per month and institution: the whole, and each one-way cell, with deadline counts.
    for axes in [(), *[(name,) for name in ORDER]]:
        leading = [month, Case.institution_id, sa.literal(_shape(axes)), sa.literal("count")]
        leading.append(no_days)
        insert(
            axes,
            leading,
            _deadline_columns(today),
            [month, Case.institution_id],
            COUNT_NAMES + SHARE_NAMES,
        )
    # Per month, sector-wide: each two-way cell.
    for i, a in enumerate(ORDER):
        for b in ORDER[i + 1 :]:
            leading = [month, NULL_INSTITUTION, sa.literal(_shape((a, b))), sa.literal("count")]
            leading.append(no_days)
            insert((a, b), leading, [], [month], COUNT_NAMES)
    # Histograms of whole days: sector-wide for the whole and per one-way cell, and per
    # institution for the whole (the total row of an institution's rest of the sector).
    for kind, days in (("ack_days", Case.ack_days), ("close_days", Case.close_days)):
        leading = [month, Case.institution_id, sa.literal(""), sa.literal(kind), days]
        insert((), leading, [], [month, Case.institution_id, days], COUNT_NAMES, days.is_not(None))
        leading = [month, NULL_INSTITUTION, sa.literal(""), sa.literal(kind), days]
        insert((), leading, [], [month, days], COUNT_NAMES, days.is_not(None))
        for name in ORDER:
            leading = [month, NULL_INSTITUTION, sa.literal(name), sa.literal(kind), days]
            insert((name,), leading, [], [month, days], COUNT_NAMES, days.is_not(None))
    return statements


def publish(today: date | None = None) -> int:
    """Rebuild the rollup from the cases as they are now; the caller commits. Returns the
    number of rows. Safe to run again at any time: it replaces the whole rollup."""
    today = today or local_today()
    db.session.execute(sa.delete(RollupRow))
    for statement in _rollup_statements(today):
        db.session.execute(statement)
    rows = db.session.scalar(sa.select(sa.func.count()).select_from(RollupRow))
    db.session.add(StatisticsPublication(computed_at=utcnow(), rows=rows))
    return rows


# --- Reading the rollup -------------------------------------------------------------------


@dataclass
class Aggregate:
    """One cell summed over months: its reports and their key sum, and the deadline counts."""

    n: int = 0
    key: int = 0
    deadlines: dict = field(default_factory=dict)  # "ack_met" -> [n, key]

    def add(self, other: Aggregate) -> None:
        self.n += other.n
        self.key += other.key
        for name, (n, key) in other.deadlines.items():
            mine = self.deadlines.setdefault(name, [0, 0])
            mine[0] += n
            mine[1] += key

    def pair(self, name: str) -> tuple[int, int]:
        n, key = self.deadlines.get(name, (0, 0))
        return n, key


def _rollup(
    shape: str,
    months: list[int],
    *,
    by: tuple[str, ...] = ("first",),
    kind: str = "count",
    sector_rows: bool = False,
    excluding: int | None = None,
    deadlines: bool = False,
) -> dict[tuple, Aggregate]:
    """The rollup's rows of `shape` over `months`, summed per `by` (columns of RollupRow)."""
    groups = [getattr(RollupRow, name) for name in by]
    columns = [sa.func.sum(RollupRow.n), sa.func.sum(RollupRow.key_sum)]
    if deadlines:
        columns += [sa.func.sum(getattr(RollupRow, name)) for name in SHARE_NAMES]
    select = sa.select(*groups, *columns).where(
        RollupRow.shape == shape, RollupRow.kind == kind, RollupRow.month.in_(months)
    )
    if sector_rows:
        select = select.where(RollupRow.institution_id.is_(None))
    else:
        select = select.where(RollupRow.institution_id.is_not(None))
    if excluding is not None:
        select = select.where(RollupRow.institution_id != excluding)
    found = {}
    for row in db.session.execute(select.group_by(*groups)):
        key = tuple(row[: len(groups)])
        values = [int(v or 0) for v in row[len(groups) :]]
        aggregate = Aggregate(values[0], values[1])
        if deadlines:
            for index, name in enumerate(SHARE_NAMES[::2]):
                aggregate.deadlines[name.removesuffix("_n")] = values[2 + 2 * index : 4 + 2 * index]
        found[key] = aggregate
    return found


# --- The table ----------------------------------------------------------------------------


@dataclass
class Cell:
    """One number as shown: the value, or why it is not shown."""

    value: int | float | None
    hidden: str | None = None  # disclosure.SMALL ("<k") or disclosure.TOO_FEW

    def data(self, threshold: int) -> int | float | str | None:
        """The value for machines: the number, "<k" for a small count, None if not shown."""
        if self.hidden == disclosure.SMALL:
            return f"<{threshold}"
        if self.hidden is not None:
            return None
        return self.value

    def text(self, threshold: int, kind: str = "count") -> str:
        """The value for people: shares (every kind but counts and medians) with a percent
        sign, "–" where none is shown."""
        data = self.data(threshold)
        if data is None:
            return "–"
        if self.hidden is None and kind != "count" and not kind.startswith("median"):
            return f"{data}%"
        return str(data)


@dataclass
class Table:
    query: Query
    threshold: int  # counts below it show as "<k"; 1 for exact figures
    protected: bool  # perturbed (cell-key method) rather than exact
    row_axis: str
    col_axis: str | None
    row_keys: list[str]
    row_labels: list[str]
    col_keys: list[str]
    col_labels: list[str]
    counts: list[list[Cell]]  # with a totals column and a totals row
    measures: dict[str, list[Cell]] = field(default_factory=dict)  # per row (and total)
    per_ground: bool = False
    computed_at: datetime | None = None
    row_medians: bool = True  # False: medians for the total row only
    total_row: bool = True  # a trend has none: each row is a period of its own


def threshold() -> int:
    return current_app.config["STATS_MIN_COUNT"]


def _count_cell(aggregate: Aggregate | None, k: int) -> Cell:
    """A protected count; a cell no report falls in (None) shows as "<k" like any other
    count below k."""
    n, key = (aggregate.n, aggregate.key) if aggregate is not None else (0, 0)
    value, hidden = disclosure.shown_count(n, key, k)
    return Cell(value, hidden)


def _dimension_keys(name: str, found: set[str], coarse: bool = False) -> tuple[list, list]:
    dimension = DIMENSIONS[name]
    labels = dimension.coarse_keys() if coarse else dimension.labels
    keys = [k for k in labels if k != UNKNOWN or UNKNOWN in found]
    keys += sorted(found - set(keys))
    return keys, [str(labels.get(k, k)) for k in keys]


def _institutions() -> list[tuple[int, str, str]]:
    return db.session.execute(
        sa.select(Institution.id, Institution.name, Institution.region).order_by(Institution.name)
    ).all()


def _region(name: str | None) -> str:
    return name or UNKNOWN


def table(query: Query, publication_: Publication | None = None) -> Table:
    """The protected table for `query`, ready to show, export or serve.

    The caller checks that the publication serves the period (the forms do); a period
    that is not in the rollup simply counts nothing.
    """
    k = threshold()
    found = publication_ or publication()
    computed_at = found.computed_at if found else None
    if query.trend:
        result = _trend_table(query, found, k)
    elif query.level == "sector" and len(query.dimensions) == 2:
        result = _two_way_table(query, k)
    elif query.level in ("region", "institution"):
        result = _level_table(query, k)
    else:
        result = _one_way_table(query, k)
    result.computed_at = computed_at
    result.per_ground = "ground" in query.axes
    return result


def _one_way_table(query: Query, k: int) -> Table:
    (name,) = query.dimensions
    months = query.period.months
    rows = _rollup(name, months, excluding=query.excluding, deadlines=True)
    whole = _rollup("", months, by=(), excluding=query.excluding, deadlines=True).get(())
    keys, labels = _dimension_keys(name, {key[0] for key in rows})
    aggregates = [rows.get((key,)) for key in keys] + [whole]
    counts = [[_count_cell(a, k)] for a in aggregates]
    result = Table(query, k, True, name, None, keys, labels, [""], [""], counts)
    result.row_medians = query.excluding is None
    result.measures = _measures(query, name, keys, aggregates)
    return result


def _measures(query: Query, name: str, keys: list[str], aggregates) -> dict[str, list[Cell]]:
    """Shares and medians per row and for the whole, all from perturbed counts."""
    months = query.period.months
    histograms = {}
    for kind in ("ack_days", "close_days"):
        per_row = defaultdict(list)
        if query.excluding is None:
            for (code, days), a in _rollup(
                name, months, by=("first", "days"), kind=kind, sector_rows=True
            ).items():
                per_row[code].append((days, a.n, a.key))
        whole = [
            (days, a.n, a.key)
            for (days,), a in _rollup(
                "",
                months,
                by=("days",),
                kind=kind,
                sector_rows=query.excluding is None,
                excluding=query.excluding,
            ).items()
        ]
        histograms[kind] = [per_row.get(key) for key in keys] + [whole]

    def median_cells(kind: str) -> list[Cell]:
        cells = []
        for index, histogram in enumerate(histograms[kind]):
            if histogram is None and index < len(keys) and query.excluding is not None:
                cells.append(Cell(None, disclosure.TOO_FEW))  # the rest: the whole only
                continue
            value = disclosure.median(histogram or [])
            cells.append(Cell(value) if value is not None else Cell(None, disclosure.TOO_FEW))
        return cells

    def share_cells(deadline: str) -> list[Cell]:
        cells = []
        for aggregate in aggregates:
            aggregate = aggregate or Aggregate()
            value = disclosure.share(
                aggregate.pair(f"{deadline}_met"), aggregate.pair(f"{deadline}_due")
            )
            cells.append(Cell(value) if value is not None else Cell(None, disclosure.TOO_FEW))
        return cells

    return {
        "median_ack_days": median_cells("ack_days"),
        "median_close_days": median_cells("close_days"),
        "ack_on_time": share_cells("ack"),
        "feedback_on_time": share_cells("feedback"),
    }


def _two_way_table(query: Query, k: int) -> Table:
    a, b = query.dimensions
    months = query.period.months
    swapped = ORDER.index(a) > ORDER.index(b)
    stored = _rollup(
        _shape((b, a) if swapped else (a, b)), months, by=("first", "second"), sector_rows=True
    )
    inner = {((y, x) if swapped else (x, y)): v for (x, y), v in stored.items()}
    rows = _rollup(a, months)
    cols = _rollup(b, months)
    whole = _rollup("", months, by=()).get(())
    row_keys, row_labels = _dimension_keys(a, {key[0] for key in inner} | {r for (r,) in rows})
    col_keys, col_labels = _dimension_keys(b, {key[1] for key in inner} | {c for (c,) in cols})
    counts = [
        [_count_cell(inner.get((r, c)), k) for c in col_keys] + [_count_cell(rows.get((r,)), k)]
        for r in row_keys
    ]
    counts.append([_count_cell(cols.get((c,)), k) for c in col_keys] + [_count_cell(whole, k)])
    return Table(query, k, True, a, b, row_keys, row_labels, col_keys, col_labels, counts)


def _level_table(query: Query, k: int) -> Table:
    """Regions, or institutions (rare categories merged), against one dimension."""
    (name,) = query.dimensions
    months = query.period.months
    coarse = query.level == "institution"
    dimension = DIMENSIONS[name]
    institutions = _institutions()
    if coarse:
        unit_of = {i.id: str(i.id) for i in institutions}
        row_keys = [str(i.id) for i in institutions]
        row_labels = [i.name for i in institutions]
    else:
        unit_of = {i.id: _region(i.region) for i in institutions}
        row_keys = sorted(set(unit_of.values()))
        row_labels = [str(_l("Onbekend")) if r == UNKNOWN else r for r in row_keys]

    def code(value: str) -> str:
        return dimension.coarse_code(value) if coarse else value

    inner: dict[tuple, Aggregate] = defaultdict(Aggregate)
    for (institution, value), a in _rollup(name, months, by=("institution_id", "first")).items():
        inner[(unit_of[institution], code(value))].add(a)
    row_totals: dict[str, Aggregate] = defaultdict(Aggregate)
    for (institution,), a in _rollup("", months, by=("institution_id",)).items():
        row_totals[unit_of[institution]].add(a)
    col_totals: dict[str, Aggregate] = defaultdict(Aggregate)
    for (value,), a in _rollup(name, months).items():
        col_totals[code(value)].add(a)
    whole = _rollup("", months, by=()).get(())
    col_keys, col_labels = _dimension_keys(name, set(col_totals), coarse=coarse)
    counts = [
        [_count_cell(inner.get((r, c)), k) for c in col_keys] + [_count_cell(row_totals.get(r), k)]
        for r in row_keys
    ]
    counts.append([_count_cell(col_totals.get(c), k) for c in col_keys] + [_count_cell(whole, k)])
    return Table(
        query, k, True, query.level, name, row_keys, row_labels, col_keys, col_labels, counts
    )


def _trend_table(query: Query, found: Publication | None, k: int) -> Table:
    """One row per closed period of the trend's kind: the whole, or split by one dimension."""
    periods = found.periods(query.trend) if found else []
    months = sorted({m for p in periods for m in p.months})
    name = query.dimensions[0] if query.dimensions else None
    by_month_whole = _rollup("", months, by=("month",))
    by_month = _rollup(name, months, by=("month", "first")) if name else {}
    row_keys = [p.code for p in periods]
    row_labels = [p.label for p in periods]
    counts = []
    values = sorted({value for (_m, value) in by_month})
    col_keys, col_labels = _dimension_keys(name, set(values)) if name else ([""], [""])
    for period in periods:
        whole, split = Aggregate(), defaultdict(Aggregate)
        for month in period.months:
            if (month,) in by_month_whole:
                whole.add(by_month_whole[(month,)])
            for value in values:
                if (month, value) in by_month:
                    split[value].add(by_month[(month, value)])
        if name:
            counts.append(
                [_count_cell(split.get(c), k) for c in col_keys] + [_count_cell(whole, k)]
            )
        else:
            counts.append([_count_cell(whole, k)])
    # No total row: a total over all the periods would be a cell that no period shows.
    trend = Table(
        query,
        k,
        True,
        "period",
        name,
        row_keys,
        row_labels,
        col_keys if name else [""],
        col_labels if name else [""],
        counts,
    )
    trend.total_row = False
    return trend


# --- An institution's own figures: exact, live ----------------------------------------------


def _own_select(query: Query, institution_id: int, axes, columns):
    select, keys = _select(axes, columns)
    select = select.where(
        scoping.own_reports(institution_id), Case.submitted_month.in_(query.period.months)
    )
    return select, keys


def own_table(query: Query, institution_id: int, today: date | None = None) -> Table:
    """An institution's own reports in the period, exactly, with exact handling figures."""
    today = today or local_today()
    (name,) = query.dimensions
    columns = [sa.func.count().label("n"), sa.func.sum(Case.record_key).label("key_sum")]
    columns += _deadline_columns(today)

    def aggregates(axes) -> dict[tuple, Aggregate]:
        select, keys = _own_select(query, institution_id, axes, columns)
        if keys:
            select = select.group_by(*keys)
        found = {}
        for row in db.session.execute(select):
            key = tuple(str(v) for v in row[: len(keys)])
            values = [int(v or 0) for v in row[len(keys) :]]
            aggregate = Aggregate(values[0], values[1])
            for index, deadline in enumerate(SHARE_NAMES[::2]):
                aggregate.deadlines[deadline.removesuffix("_n")] = values[
                    2 + 2 * index : 4 + 2 * index
                ]
            if aggregate.n:
                found[key] = aggregate
        return found

    rows = aggregates((name,))
    whole = aggregates(()).get(())
    keys, labels = _dimension_keys(name, {key[0] for key in rows})
    per_row = [rows.get((key,)) for key in keys] + [whole]
    counts = [[Cell(a.n if a else 0)] for a in per_row]
    result = Table(query, 1, False, name, None, keys, labels, [""], [""], counts)
    result.per_ground = name == "ground"

    def histograms(days) -> list[list[tuple[int, int]]]:
        by_row: dict[str, list] = defaultdict(list)
        select, keys_ = _own_select(
            query, institution_id, (name,), [days.label("d"), sa.func.count().label("n")]
        )
        for row in db.session.execute(select.where(days.is_not(None)).group_by(keys_[0], days)):
            by_row[str(row[0])].append((row.d, row.n))
        select, _ = _own_select(
            query, institution_id, (), [days.label("d"), sa.func.count().label("n")]
        )
        whole_rows = db.session.execute(select.where(days.is_not(None)).group_by(days)).all()
        return [by_row.get(key, []) for key in keys] + [[(r.d, r.n) for r in whole_rows]]

    def exact_median(histogram) -> Cell:
        return Cell(disclosure.whole_median(histogram))

    def exact_share(a: Aggregate | None, deadline: str) -> Cell:
        met, due = (
            (a or Aggregate()).pair(f"{deadline}_met")[0],
            (a or Aggregate()).pair(f"{deadline}_due")[0],
        )
        return Cell(None) if due == 0 else Cell(round(100 * met / due))

    result.measures = {
        "median_ack_days": [exact_median(h) for h in histograms(Case.ack_days)],
        "median_close_days": [exact_median(h) for h in histograms(Case.close_days)],
        "ack_on_time": [exact_share(a, "ack") for a in per_row],
        "feedback_on_time": [exact_share(a, "feedback") for a in per_row],
    }
    return result
