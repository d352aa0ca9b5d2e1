"""One suppressed table, four ways out: the page, CSV, XLSX and JSON.

Every form is built from `grid()`, the table exactly as the page shows it, so
that no path can carry a number the page would not show.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass

from flask_babel import gettext as _
from openpyxl import Workbook

from .. import disclosure, statistics

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class Grid:
    title: str
    period: str
    rule: str
    notes: list[str]
    header: list[str]
    rows: list[list[str]]  # as shown: labels, then the numbers as text
    values: list[list[object]]  # the same cells for machines: int/float, "<5", or None


def rule_text(threshold: int) -> str:
    if threshold <= 1:
        return _("Uw eigen meldingen: hier is niets verborgen.")
    return _(
        "Aantallen van 1 tot en met %(last)d staan als <%(k)d. Om die niet te laten "
        "terugrekenen zijn ook andere cellen (×) verborgen. Medianen en percentages over "
        "minder dan %(k)d meldingen staan er niet.",
        last=threshold - 1,
        k=threshold,
    )


def title(table: statistics.Table) -> str:
    axes = [_axis_label(a) for a in table.query.axes]
    return _("Meldingen naar %(axes)s", axes=_(" en ").join(axes))


def _axis_label(axis: str) -> str:
    if axis in statistics.DIMENSIONS:
        return str(statistics.DIMENSIONS[axis].label).lower()
    return {"region": _("regio"), "institution": _("instelling")}[axis]


def _machine(cell: statistics.Cell, threshold: int, kind: str = "count"):
    if cell.hidden == disclosure.PRIMARY and kind == "count":
        return f"<{threshold}"
    if cell.hidden is not None:
        return None
    if cell.value is None:
        return None
    return round(cell.value, 3) if isinstance(cell.value, float) else cell.value


def grid(table: statistics.Table) -> Grid:
    k = table.threshold
    notes = []
    if table.per_ground:
        notes.append(_("Een melding met meer gronden telt bij elke grond één keer mee."))
    if table.withheld:
        notes.append(_("Er zijn te weinig meldingen om iets te laten zien."))
    axis_label = _axis_label(table.row_axis).capitalize()
    if table.col_axis is None:
        header = [axis_label, _("Aantal meldingen")] + [
            str(statistics.MEASURES[m]) for m in table.measures
        ]
        rows, values = [], []
        labels = [*table.row_labels, _("Totaal")]
        for index, label in enumerate(labels):
            count = table.counts[index][0]
            row = [label, count.text(k)]
            machine = [label, _machine(count, k)]
            for name, cells in table.measures.items():
                row.append(cells[index].text(k, name))
                machine.append(_machine(cells[index], k, name))
            rows.append(row)
            values.append(machine)
    else:
        header = [axis_label, *table.col_labels, _("Totaal")]
        rows, values = [], []
        labels = [*table.row_labels, _("Totaal")]
        for index, label in enumerate(labels):
            cells = table.counts[index]
            rows.append([label, *(c.text(k) for c in cells)])
            values.append([label, *(_machine(c, k) for c in cells)])
    return Grid(
        title=title(table),
        period=table.query.period.label,
        rule=rule_text(k),
        notes=notes,
        header=header,
        rows=rows,
        values=values,
    )


def filename(table: statistics.Table, extension: str) -> str:
    axes = "_".join(table.query.axes)
    slug = re.sub(r"[^a-z0-9_-]+", "-", f"meldingen_{axes}_{table.query.period.slug}".lower())
    return f"{slug}.{extension}"


def safe_text(value: object) -> object:
    """Text a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def to_csv(data: Grid) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([safe_text(data.title), safe_text(data.period)])
    writer.writerow([safe_text(data.rule)])
    for note in data.notes:
        writer.writerow([safe_text(note)])
    writer.writerow([safe_text(h) for h in data.header])
    for row in data.rows:
        writer.writerow([safe_text(c) for c in row])
    return "\ufeff" + out.getvalue()  # a BOM, so that Excel reads UTF-8


def to_xlsx(data: Grid) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = "Meldingen"

    def put(row: list) -> None:
        sheet.append([safe_text(v) for v in row])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text, never a formula

    put([data.title, data.period])
    put([data.rule])
    for note in data.notes:
        put([note])
    put(data.header)
    for row in data.values:
        put(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_json(data: Grid, query: statistics.Query) -> str:
    return json.dumps(as_dict(data, query), ensure_ascii=False, indent=2)


def as_dict(data: Grid, query: statistics.Query) -> dict:
    return {
        "title": data.title,
        "period": {
            "label": data.period,
            "start": query.period.start.isoformat(),
            "end": query.period.end.isoformat(),
        },
        "level": query.level,
        "dimensions": list(query.dimensions),
        "suppression": data.rule,
        "notes": data.notes,
        "columns": data.header,
        "rows": data.values,
    }
