"""A bar chart of exactly the table's numbers, drawn as SVG on the server (no script).

A trend draws the total of each period."""

from __future__ import annotations

from dataclasses import dataclass

from .. import statistics

BAR_HEIGHT = 18
GAP = 6
LABEL_WIDTH = 220
PLOT_WIDTH = 360
# Colours that keep a 3:1 contrast with white and with each other's neighbours.
PALETTE = ["#154273", "#ca005d", "#007b4b", "#a64c00", "#5b3c97", "#00657e", "#6b6b00", "#8a1538"]


@dataclass
class Bar:
    y: int
    width: int
    text: str
    colour: str
    hidden: bool
    series: str


@dataclass
class Group:
    label: str
    y: int
    bars: list[Bar]


# A trend's rows are short period labels: a narrow chart that a 360 px phone shows at
# full size, so that its text stays as large as the page's.
TREND_LABEL_WIDTH = 84
TREND_PLOT_WIDTH = 200


@dataclass
class Chart:
    groups: list[Group]
    legend: list[tuple[str, str]]
    height: int
    width: int = LABEL_WIDTH + PLOT_WIDTH + 80
    label_width: int = LABEL_WIDTH
    narrow: bool = False


def _cells(table: statistics.Table, index: int):
    """The cells a row draws: a trend its total, a two-way table its columns."""
    row = table.counts[index]
    if table.query.trend:
        return row[-1:]
    return row[:-1] if table.col_axis else row[:1]


def bars(table: statistics.Table) -> Chart:
    """One group per row; one bar per column (or one bar in a one-way table or a trend)."""
    k = table.threshold
    trend = bool(table.query.trend)
    plot = TREND_PLOT_WIDTH if trend else PLOT_WIDTH
    series = table.col_labels if table.col_axis and not trend else [""]
    visible = [
        cell.value
        for index in range(len(table.row_labels))
        for cell in _cells(table, index)
        if cell.hidden is None
    ]
    largest = max(visible, default=0) or 1
    groups, y = [], 0
    for index, label in enumerate(table.row_labels):
        cells = _cells(table, index)
        group_bars = []
        top = y
        for position, cell in enumerate(cells):
            hidden = cell.hidden is not None
            width = 0 if hidden else round(plot * cell.value / largest)
            group_bars.append(
                Bar(
                    y=y,
                    width=width,
                    text=cell.text(k),
                    colour=PALETTE[position % len(PALETTE)],
                    hidden=hidden,
                    series=series[position],
                )
            )
            y += BAR_HEIGHT
        groups.append(Group(label=label, y=top, bars=group_bars))
        y += GAP * 2
    legend = (
        [(label, PALETTE[i % len(PALETTE)]) for i, label in enumerate(series)]
        if table.col_axis and not trend
        else []
    )
    if trend:
        return Chart(
            groups=groups,
            legend=legend,
            height=max(y, BAR_HEIGHT),
            width=TREND_LABEL_WIDTH + TREND_PLOT_WIDTH + 50,
            label_width=TREND_LABEL_WIDTH,
            narrow=True,
        )
    return Chart(groups=groups, legend=legend, height=max(y, BAR_HEIGHT))
