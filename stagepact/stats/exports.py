"""One protected table, four ways out: the page, CSV, XLSX and JSON (the API's too).

Every form is built from `grid()`, the table exactly as the page shows it, so that no
path can carry a number the page would not show. Rows and columns carry stable codes
beside their labels in the reader's language.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass

from flask_babel import format_date
from flask_babel import gettext as _
from openpyxl import Workbook

from .. import disclosure, statistics

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class Column:
    code: str
    label: str


@dataclass
class Row:
    code: str
    label: str
    texts: list[str]  # as the page shows them
    values: list[object]  # for machines: int, "<5", or None


@dataclass
class Grid:
    title: str
    period: str
    axis: Column  # what the rows are
    columns: list[Column]
    rows: list[Row]
    rule: str
    notes: list[str]


def rule_text(table: statistics.Table) -> str:
    if not table.protected:
        return _("Uw eigen meldingen, precies: hier is niets verstoord of verborgen.")
    return _(
        "Om niemand herkenbaar te maken is elk aantal een klein beetje verstoord: hoogstens "
        "%(noise)d erbij of eraf, en voor dezelfde meldingen altijd op dezelfde manier, in elke "
        "tabel. Aantallen onder de %(k)d, ook 0, staan als <%(k)d. Een totaal is op dezelfde "
        "manier verstoord en is daardoor niet altijd precies de som van de cellen. Percentages "
        "en medianen staan er alleen bij %(minimum)d meldingen of meer.",
        noise=disclosure.MAX_NOISE,
        k=table.threshold,
        minimum=disclosure.MEASURE_MIN,
    )


def title(table: statistics.Table) -> str:
    query = table.query
    if query.trend:
        per = {
            "quarter": _("Meldingen per kwartaal"),
            "school_year": _("Meldingen per schooljaar"),
            "year": _("Meldingen per kalenderjaar"),
        }[query.trend]
        if query.dimensions:
            return _("%(per)s, naar %(axis)s", per=per, axis=_axis_label(query.dimensions[0]))
        return per
    axes = [_axis_label(a) for a in query.axes]
    return _("Meldingen naar %(axes)s", axes=_(" en ").join(axes))


def period_label(table: statistics.Table) -> str:
    if table.query.trend:
        return _("alle periodes waarvan de cijfers klaar zijn")
    return table.query.period.label


def _axis_label(axis: str) -> str:
    if axis in statistics.DIMENSIONS:
        return str(statistics.DIMENSIONS[axis].label).lower()
    return {"region": _("regio"), "institution": _("instelling"), "period": _("periode")}[axis]


def grid(table: statistics.Table) -> Grid:
    k = table.threshold
    notes = []
    if table.per_ground:
        notes.append(_("Een melding met meer gronden telt bij elke grond één keer mee."))
    if not table.row_medians:
        notes.append(
            _("De medianen van de rest van de sector staan er alleen voor alle meldingen samen.")
        )
    if table.query.level == "institution":
        notes.append(_("Per instelling zijn zeldzame categorieën samengevoegd."))
    if table.computed_at is not None and table.protected:
        notes.append(_("Cijfers van %(date)s.", date=format_date(table.computed_at, format="long")))
    axis = Column(table.row_axis, _axis_label(table.row_axis).capitalize())
    row_codes = [*table.row_keys] + ([statistics.TOTAL] if table.total_row else [])
    row_labels = [*table.row_labels] + ([_("Totaal")] if table.total_row else [])
    rows = []
    if table.col_axis is None:
        columns = [Column("count", _("Aantal meldingen"))]
        columns += [Column(m, str(statistics.MEASURES[m])) for m in table.measures]
        for index, (code, label) in enumerate(zip(row_codes, row_labels, strict=True)):
            cells = [(table.counts[index][0], "count")]
            cells += [(table.measures[m][index], m) for m in table.measures]
            rows.append(
                Row(
                    code,
                    label,
                    [cell.text(k, kind) for cell, kind in cells],
                    [cell.data(k) for cell, _kind in cells],
                )
            )
    else:
        columns = [
            Column(c, label) for c, label in zip(table.col_keys, table.col_labels, strict=True)
        ]
        columns.append(Column(statistics.TOTAL, _("Totaal")))
        for index, (code, label) in enumerate(zip(row_codes, row_labels, strict=True)):
            cells = table.counts[index]
            rows.append(Row(code, label, [c.text(k) for c in cells], [c.data(k) for c in cells]))
    return Grid(
        title=title(table),
        period=period_label(table),
        axis=axis,
        columns=columns,
        rows=rows,
        rule=rule_text(table),
        notes=notes,
    )


def filename(table: statistics.Table, extension: str) -> str:
    query = table.query
    axes = "_".join(query.axes)
    when = f"verloop-{query.trend}" if query.trend else query.period.code
    slug = re.sub(r"[^a-z0-9_-]+", "-", f"meldingen_{axes}_{when}".lower())
    return f"{slug}.{extension}"


def safe_text(value: object) -> object:
    """Text a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _header(data: Grid) -> list[str]:
    return [_("code"), data.axis.label, *(c.label for c in data.columns)]


def to_csv(data: Grid) -> str:
    """The table alone, starting with its header row (the title and notes are in the XLSX
    and JSON exports, and on the page)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([safe_text(h) for h in _header(data)])
    for row in data.rows:
        values = ["" if v is None else v for v in row.values]
        writer.writerow([safe_text(c) for c in [row.code, row.label, *values]])
    return "\ufeff" + out.getvalue()  # a BOM, so that Excel reads UTF-8


def to_xlsx(data: Grid) -> bytes:
    """The table on the first sheet (header row first), its title and notes on the second."""
    book = Workbook()
    sheet = book.active
    sheet.title = _("Tabel")[:31]

    def put(target, row: list) -> None:
        target.append([safe_text(v) for v in row])
        for cell in target[target.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text, never a formula

    put(sheet, _header(data))
    for row in data.rows:
        put(sheet, [row.code, row.label, *row.values])
    notes = book.create_sheet(_("Toelichting")[:31])
    put(notes, [data.title])
    put(notes, [data.period])
    put(notes, [data.rule])
    for note in data.notes:
        put(notes, [note])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_json(data: Grid, table: statistics.Table) -> str:
    return json.dumps(as_dict(data, table), ensure_ascii=False, indent=2)


def as_dict(data: Grid, table: statistics.Table) -> dict:
    query = table.query
    if query.trend:
        period = {
            "kind": "trend",
            "granularity": query.trend,
            "code": f"trend-{query.trend}",
            "label": data.period,
        }
    else:
        period = {
            "kind": query.period.kind,
            "code": query.period.code,
            "label": query.period.label,
            "start": query.period.start.isoformat(),
            "end": query.period.end.isoformat(),
        }
    return {
        "title": data.title,
        "period": period,
        "level": {"code": query.level, "label": str(statistics.LEVELS[query.level])},
        "dimensions": [
            {"code": d, "label": str(statistics.DIMENSIONS[d].label)} for d in query.dimensions
        ],
        "method": {
            "name": "cell-key" if table.protected else "exact",
            "threshold": table.threshold,
            "max_noise": disclosure.MAX_NOISE if table.protected else 0,
            "measure_min": disclosure.MEASURE_MIN if table.protected else 1,
            "description": data.rule,
        },
        "computed_at": table.computed_at.isoformat() + "Z" if table.computed_at else None,
        "notes": data.notes,
        "rows_are": {"code": data.axis.code, "label": data.axis.label},
        "columns": [{"code": c.code, "label": c.label} for c in data.columns],
        "rows": [{"code": r.code, "label": r.label, "values": r.values} for r in data.rows],
    }
