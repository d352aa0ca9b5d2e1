"""Counts of reports for monitors and institutions: SQL aggregates, then disclosure control.

A `Query` says which reports (period, optionally one institution) and how to
split them (one or two dimensions, or the level's units against one
dimension). `table()` runs one GROUP BY for the counts and one per measure,
hands only the aggregated rows to Python, and passes every count through
`stagepact.disclosure` before anything can be shown, exported or served.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from . import disclosure, vocab
from .deadlines import add_months, start_of_local_day
from .deadlines import today as local_today
from .extensions import db
from .models import Case, CaseGround, Institution, Investigation, Referral
from .vocab import Status

# A field left empty; distinct from the ground "unknown" ("Weet ik niet") a student can choose.
UNKNOWN = "not_given"
YES, NO = "yes", "no"


# --- Dimensions -----------------------------------------------------------------------


@dataclass(frozen=True)
class Dimension:
    name: str
    label: object
    labels: dict  # code -> label, in display order


def _with_unknown(labels: dict) -> dict:
    return {**{str(k): v for k, v in labels.items()}, UNKNOWN: _l("Niet ingevuld")}


YES_NO = {YES: _l("Ja"), NO: _l("Nee")}

DIMENSIONS: dict[str, Dimension] = {
    d.name: d
    for d in (
        Dimension("phase", _l("Fase"), _with_unknown(vocab.PHASES)),
        Dimension("ground", _l("Grond"), _with_unknown(vocab.GROUNDS)),
        Dimension("form", _l("Vorm"), _with_unknown(vocab.FORMS)),
        Dimension("who", _l("Wie"), _with_unknown(vocab.WHO)),
        Dimension("channel", _l("Kanaal"), {str(k): v for k, v in vocab.CHANNEL_LABELS.items()}),
        Dimension(
            "outcome",
            _l("Uitkomst"),
            {"open": _l("Nog open"), **{str(k): v for k, v in vocab.OUTCOME_LABELS.items()}},
        ),
        Dimension("referred", _l("Doorverwezen naar ADV"), YES_NO),
        Dimension("escalated", _l("Doorgezet naar SBB"), YES_NO),
        Dimension(
            "sbb_decision",
            _l("Besluit SBB"),
            {"none": _l("Geen besluit"), **{str(k): v for k, v in vocab.DECISION_LABELS.items()}},
        ),
    )
}

LEVELS = {
    "sector": _l("Hele sector"),
    "region": _l("Per regio"),
    "institution": _l("Per instelling"),
}

MEASURES = {
    "count": _l("Aantal meldingen"),
    "median_ack_days": _l("Mediaan dagen tot bevestiging"),
    "median_close_days": _l("Mediaan dagen tot afsluiten"),
    "ack_on_time": _l("Deel op tijd bevestigd"),
    "feedback_on_time": _l("Deel op tijd teruggekoppeld"),
}


# --- Periods ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    start: date  # first day
    end: date  # the day after the last
    label: str
    slug: str


def month(year: int, number: int) -> Period:
    start = date(year, number, 1)
    return Period(start, add_months(start, 1), f"{year}-{number:02d}", f"{year}-{number:02d}")


def quarter(year: int, number: int) -> Period:
    start = date(year, 3 * (number - 1) + 1, 1)
    return Period(start, add_months(start, 3), f"{year} Q{number}", f"{year}-q{number}")


def school_year(first_year: int) -> Period:
    """1 August to 31 July, as MBO school years run."""
    start = date(first_year, 8, 1)
    label = f"{first_year}-{first_year + 1}"
    return Period(start, date(first_year + 1, 8, 1), label, f"schooljaar-{label}")


def calendar_year(year: int) -> Period:
    return Period(date(year, 1, 1), date(year + 1, 1, 1), str(year), str(year))


def date_range(first: date, last: date) -> Period:
    """The whole months from `first`'s to `last`'s. Tables of ranges that differ by a day
    would give away, by subtraction, what was reported on that one day."""
    start = first.replace(day=1)
    end = add_months(last.replace(day=1), 1)
    first_month, last_month = f"{start:%Y-%m}", f"{last:%Y-%m}"
    if first_month == last_month:
        return Period(start, end, first_month, first_month)
    return Period(start, end, f"{first_month} – {last_month}", f"{first_month}_{last_month}")


# --- The query ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    period: Period
    level: str = "sector"
    dimensions: tuple[str, ...] = ("phase",)
    institution_id: int | None = None  # an institution's own figures
    excluding: int | None = None  # the rest of the sector, beside an institution's own

    @property
    def axes(self) -> tuple[str, ...]:
        """What the rows (and columns) are split by; none for the whole."""
        if self.level != "sector":
            return (self.level, *self.dimensions[:1])
        return self.dimensions

    def whole(self) -> Query:
        """The same reports, not split at all."""
        return Query(self.period, "sector", (), self.institution_id, self.excluding)


@dataclass
class _From:
    """The FROM clause the axes need, joined once."""

    query: Query
    select_from: object = None
    needs_ground: bool = False
    needs_institution: bool = False
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
    if name == "region":
        joins.needs_institution = True
        return sa.func.coalesce(sa.func.nullif(Institution.region, ""), UNKNOWN)
    if name == "institution":
        return Case.institution_id
    raise ValueError(name)


def _base(query: Query, columns: list) -> sa.Select:
    """SELECT columns FROM the reports of the query's period (and institution)."""
    joins = _From(query)
    keys = [_axis_expression(axis, joins).label(f"k{i}") for i, axis in enumerate(query.axes)]
    select = sa.select(*keys, *columns).select_from(Case)
    if joins.needs_ground:
        select = select.outerjoin(CaseGround, CaseGround.case_id == Case.id)
    if joins.needs_institution:
        select = select.join(Institution, Institution.id == Case.institution_id)
    for sub in (joins.referred, joins.escalated, joins.decision):
        if sub is not None:
            select = select.outerjoin(sub, sub.c.case_id == Case.id)
    select = select.where(
        Case.submitted_at >= start_of_local_day(query.period.start),
        Case.submitted_at < start_of_local_day(query.period.end),
    )
    if query.institution_id is not None:
        select = select.where(Case.institution_id == query.institution_id)
    if query.excluding is not None:
        select = select.where(Case.institution_id != query.excluding)
    return select, keys


def _histograms(query: Query, days) -> dict[tuple, list[tuple[int, int]]]:
    """Per group: how many reports took how many whole days (`Case.ack_days` or `close_days`).

    Aggregated rows, a few hundred per group whatever the number of reports;
    medians are read off them (`_median_of`).
    """
    select, keys = _base(query, [days.label("d"), sa.func.count().label("n")])
    select = select.where(days.is_not(None)).group_by(*keys, days)
    histograms: dict[tuple, list[tuple[int, int]]] = {}
    for row in db.session.execute(select):
        key = tuple(str(v) for v in row[: len(keys)])
        histograms.setdefault(key, []).append((row.d, row.n))
    return histograms


def _merged_median(histograms: dict) -> tuple[float, int] | None:
    merged: dict[int, int] = {}
    for histogram in histograms.values():
        for value, n in histogram:
            merged[value] = merged.get(value, 0) + n
    return _median_of(list(merged.items())) if merged else None


def _median_of(histogram: list[tuple[int, int]]) -> tuple[float, int]:
    """The median of values given as (value, how often), and how many values there are."""
    ordered = sorted(histogram)
    total = sum(n for _value, n in ordered)
    wanted = [(total - 1) // 2, total // 2]  # the middle one, or the middle two
    found, seen = [], 0
    for value, n in ordered:
        while wanted and wanted[0] < seen + n:
            found.append(value)
            wanted.pop(0)
        seen += n
    return sum(found) / len(found), total


def _counts_and_shares(query: Query, today: date) -> dict[tuple, tuple[int, dict]]:
    """Per group, in one scan: the number of reports, and (met, due) per deadline.

    A deadline counts once it was met or missed: answered on time, answered
    late, or still unanswered after its due date.
    """
    one = sa.literal(1)
    ack_missed_open = sa.and_(Case.status == Status.NEW, Case.ack_due_on < today)
    feedback_missed_open = sa.and_(
        Case.feedback_at.is_(None),
        Case.feedback_due_on < today,
        Case.status.in_([Status.TRIAGE, Status.FOLLOW_UP, Status.REFERRED, Status.ESCALATED]),
    )
    columns = [
        sa.func.count().label("n"),
        sa.func.sum(sa.case((Case.ack_on_time.is_(True), one), else_=0)).label("ack_met"),
        sa.func.sum(
            sa.case((sa.or_(Case.ack_on_time.is_not(None), ack_missed_open), one), else_=0)
        ).label("ack_due"),
        sa.func.sum(sa.case((Case.feedback_on_time.is_(True), one), else_=0)).label("feedback_met"),
        sa.func.sum(
            sa.case(
                (sa.or_(Case.feedback_on_time.is_not(None), feedback_missed_open), one), else_=0
            )
        ).label("feedback_due"),
    ]
    select, keys = _base(query, columns)
    if keys:
        select = select.group_by(*keys)
    return {
        tuple(str(v) for v in row[: len(keys)]): (
            row.n,
            {
                "ack_on_time": (int(row.ack_met or 0), int(row.ack_due or 0)),
                "feedback_on_time": (int(row.feedback_met or 0), int(row.feedback_due or 0)),
            },
        )
        for row in db.session.execute(select)
        if row.n
    }


# --- The table ----------------------------------------------------------------------------


@dataclass
class Cell:
    """One number as shown: the value, or why it is not shown."""

    value: float | int | None
    hidden: str | None = None  # "primary" ("<k"), "complementary", "withheld", "too_few"

    def text(self, threshold: int, kind: str = "count") -> str:
        if self.hidden == disclosure.PRIMARY and kind == "count":
            return f"<{threshold}"
        if self.hidden is not None:
            return "×"
        if self.value is None:
            return "–"
        if kind == "count":
            return str(self.value)
        if kind.startswith("median"):
            return f"{self.value:.1f}".replace(".", ",")
        return f"{round(self.value * 100)}%"


@dataclass
class Table:
    query: Query
    threshold: int
    row_axis: str
    col_axis: str | None
    row_keys: list[str]
    row_labels: list[str]
    col_keys: list[str]
    col_labels: list[str]
    counts: list[list[Cell]]  # with a totals column and a totals row
    measures: dict[str, list[Cell]] = field(default_factory=dict)  # per row (and total)
    per_ground: bool = False

    @property
    def withheld(self) -> bool:
        return any(c.hidden == disclosure.WITHHELD for row in self.counts for c in row)


def _axis_keys(axis: str, found: set[str]) -> tuple[list[str], list[str]]:
    """Every value an axis can take (zeros shown too), with its label."""
    if axis == "institution":
        institutions = db.session.execute(
            sa.select(Institution.id, Institution.name).order_by(Institution.name)
        ).all()
        keys = [str(i.id) for i in institutions]
        return keys, [i.name for i in institutions]
    if axis == "region":
        region = sa.func.coalesce(sa.func.nullif(Institution.region, ""), UNKNOWN)
        regions = db.session.scalars(sa.select(region).distinct()).all()
        keys = sorted(set(regions) | found)
        return keys, [str(_l("Onbekend")) if k == UNKNOWN else k for k in keys]
    labels = DIMENSIONS[axis].labels
    keys = [k for k in labels if k != UNKNOWN or UNKNOWN in found]
    keys += sorted(found - set(keys))
    return keys, [str(labels.get(k, k)) for k in keys]


def threshold() -> int:
    return current_app.config["STATS_MIN_COUNT"]


def table(query: Query, today: date | None = None, protect: bool = True) -> Table:
    """The suppressed table for `query`, ready to show, export or serve.

    Only an institution's view of its own reports passes `protect=False`:
    those are its own cases, which its handlers read anyway.
    """
    k = threshold() if protect else 1
    today = today or local_today()
    aggregated = _counts_and_shares(query, today)
    counts = {key: n for key, (n, _shares) in aggregated.items()}
    found = [set() for _ in query.axes]
    for key in counts:
        for i, value in enumerate(key):
            found[i].add(value)
    row_axis = query.axes[0]
    col_axis = query.axes[1] if len(query.axes) > 1 else None
    row_keys, row_labels = _axis_keys(row_axis, found[0])
    col_keys, col_labels = _axis_keys(col_axis, found[1]) if col_axis else ([""], [""])
    if col_axis:
        raw = [[counts.get((r, c), 0) for c in col_keys] for r in row_keys]
    else:
        raw = [[counts.get((r,), 0)] for r in row_keys]
    protected = disclosure.protect(raw, k)
    cells = [
        [Cell(protected.values[r][c], protected.kind(r, c)) for c in range(protected.cols + 1)]
        for r in range(protected.rows + 1)
    ]
    result = Table(
        query=query,
        threshold=k,
        row_axis=row_axis,
        col_axis=col_axis,
        row_keys=row_keys,
        row_labels=row_labels,
        col_keys=col_keys,
        col_labels=col_labels,
        counts=cells,
        per_ground="ground" in query.axes,
    )
    if col_axis is None:
        shares = {key: pair for key, (_n, pair) in aggregated.items()}
        result.measures = _row_measures(query, row_keys, cells, k, today, shares)
    return result


def _row_measures(
    query: Query, row_keys, cells, k: int, today: date, shares: dict
) -> dict[str, list[Cell]]:
    """The handling measures per row of a one-way table, and for all rows together."""
    ack_days = _histograms(query, Case.ack_days)
    close_days = _histograms(query, Case.close_days)
    ack = {key: _median_of(h) for key, h in ack_days.items()}
    closing = {key: _median_of(h) for key, h in close_days.items()}
    empty = {"ack_on_time": (0, 0), "feedback_on_time": (0, 0)}
    if "ground" in query.axes:
        # A report with two grounds is in two rows: the whole is counted on its own.
        whole = query.whole()
        overall_ack = _merged_median(_histograms(whole, Case.ack_days))
        overall_close = _merged_median(_histograms(whole, Case.close_days))
        overall_shares = _counts_and_shares(whole, today).get((), (0, empty))[1]
    else:
        # Every report is in exactly one row: the whole is the sum of the rows.
        overall_ack = _merged_median(ack_days)
        overall_close = _merged_median(close_days)
        overall_shares = {
            name: (
                sum(pair[name][0] for pair in shares.values()),
                sum(pair[name][1] for pair in shares.values()),
            )
            for name in empty
        }

    def median_cell(found, row_hidden) -> Cell:
        if row_hidden:
            return Cell(None, row_hidden)
        if found is None:
            return Cell(None)
        value, n = found
        return Cell(value) if disclosure.median_shown(n, k) else Cell(None, "too_few")

    def share_cell(pair, row_hidden) -> Cell:
        if row_hidden:
            return Cell(None, row_hidden)
        met, due = pair or (0, 0)
        if due == 0:
            return Cell(None)
        if due < k or 0 < met < k or 0 < due - met < k:
            # The share would give away a small number of (un)met deadlines.
            return Cell(None, "too_few")
        return Cell(met / due)

    measures: dict[str, list[Cell]] = {name: [] for name in MEASURES if name != "count"}
    for index, key in enumerate(row_keys):
        hidden = cells[index][0].hidden
        measures["median_ack_days"].append(median_cell(ack.get((key,)), hidden))
        measures["median_close_days"].append(median_cell(closing.get((key,)), hidden))
        pair = shares.get((key,), {})
        measures["ack_on_time"].append(share_cell(pair.get("ack_on_time"), hidden))
        measures["feedback_on_time"].append(share_cell(pair.get("feedback_on_time"), hidden))
    total_hidden = cells[-1][0].hidden
    measures["median_ack_days"].append(median_cell(overall_ack, total_hidden))
    measures["median_close_days"].append(median_cell(overall_close, total_hidden))
    measures["ack_on_time"].append(share_cell(overall_shares["ack_on_time"], total_hidden))
    measures["feedback_on_time"].append(
        share_cell(overall_shares["feedback_on_time"], total_hidden)
    )
    return measures
