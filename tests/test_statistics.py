"""Statistics: monitors count and never read; every path shows the same protected table.

The true counts are worked out by hand from the reports each test seeds (dates set
directly); what the page must show for them is those reports' count perturbed with their
own record keys (`shown`), since every count goes through the cell-key method. The method
itself is property-tested in tests/test_disclosure.py, and attacked with a linear program
in tests/test_disclosure_attack.py; here it is checked as the monitor meets it: on the
page, in the chart, the exports and (see tests/test_statistics_api.py) the API.
"""

from __future__ import annotations

import html as html_lib
import json
import re
from datetime import date
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from stagepact import disclosure, statistics, workflow
from stagepact.deadlines import local_date
from stagepact.extensions import db
from stagepact.models import (
    Attachment,
    Case,
    Company,
    Investigation,
    Message,
    Referral,
    RollupRow,
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
from tests.helpers import audit_events, field_error, walk_routes
from tests.statistics_world import (
    COMPANY,
    COMPANY_TEXT,
    DIMENSIONS,
    FORMULA_NAMES,
    INCIDENT_PERIOD,
    LEVELS,
    MARCH,
    MEASURE_HEADER,
    NARRATIVE,
    PER_GROUND_NOTE,
    PHASE,
    PROGRAMME,
    Q1_2025,
    REPORTER,
    REPORTER_EMAIL,
    RULE,
    SUMMARY,
    YEAR_2025,
    assert_machine_rows_match_page,
    at,
    caption,
    chart_groups,
    column,
    count_cells,
    counts,
    csv_rows,
    every_row,
    hints_after,
    load_demo,
    no_small_count,
    publish,
    report,
    reports,
    safe,
    seed_mixed,
    shown,
    table_rows,
    view,
    visible_numbers,
    with_ground,
    xlsx_book,
    xlsx_rows,
)

# --- Fixtures --------------------------------------------------------------------------------


@pytest.fixture
def monitor():
    return make_user(Role.MONITOR, name="Mirjam Monitor", email="mirjam@minocw.example")


@pytest.fixture
def as_monitor(client, auth, monitor):
    assert auth.login(monitor).status_code == 302
    return client


# --- A monitor reaches no case ---------------------------------------------------------------

# A monitor's own pages and the public ones (the health checks among them); every other
# blueprint (desk, SBB, platform, an institution's organisation pages, and any added
# later) is walked, with the student's case pages.
OWN_BLUEPRINTS = {"stats", "api", "auth", "student", "language", "health"}
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

    def walked(rule) -> bool:
        own = rule.endpoint.split(".")[0] in OWN_BLUEPRINTS and not _is_student_case_rule(rule)
        return not own

    return [(r.method, r.url, r.endpoint) for r in walk_routes(app, ids, where=walked)]


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
    for made in (case, closed, referred):  # reported in a closed quarter, so it is counted
        made.submitted_at = MARCH
    publish()
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
    pages = []
    for level in LEVELS:
        period = {"period": "school_year", "year": 2024} if level == "institution" else Q1_2025
        for dimension in DIMENSIONS:
            pages.append(view(as_monitor, **period, level=level, dimension=dimension))
    pages.append(view(as_monitor, **Q1_2025, dimension="phase", dimension2="ground"))
    pages.append(view(as_monitor, period="trend", granularity="quarter", dimension="outcome"))

    params = {**Q1_2025, "dimension": "phase"}
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
    assert audit_events("statistics.viewed") == [] and audit_events("statistics.exported") == []


@pytest.mark.parametrize("role", [Role.HANDLER, Role.INSTITUTION_ADMIN])
def test_institution_staff_have_no_sector_exports(client, auth, role):
    auth.login(make_user(role))
    for kind in ("csv", "xlsx", "json"):
        assert client.get(f"/statistieken/export.{kind}?year=2025").status_code == 404
    assert audit_events("statistics.exported") == []


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    for url in ("/statistieken/", "/statistieken/export.csv?year=2025"):
        response = client.get(url)
        assert response.status_code == 302
        assert urlsplit(response.headers["Location"]).path == "/inloggen"


# --- Counts, perturbed with the reports' own keys -------------------------------------------


def test_counts_per_phase_with_unknown_and_small_counts_shown_as_below_five(as_monitor):
    institution = make_institution()
    application = reports(7, institution, MARCH, phase="application")
    internship = reports(5, institution, MARCH, phase="internship")
    school = reports(2, institution, MARCH, phase="school")
    unknown = reports(3, institution, MARCH)  # no phase given
    publish()

    rows = table_rows(view(as_monitor, **Q1_2025, dimension="phase"))

    assert rows[0] == ["Fase", *MEASURE_HEADER]
    everyone = application + internship + school + unknown
    assert column(rows) == {
        PHASE["application"]: shown(application),
        PHASE["internship"]: shown(internship),
        PHASE["school"]: shown(school),
        PHASE["other"]: shown([]),  # no report: shown as "<5" like a small count
        PHASE["not_given"]: shown(unknown),
        "Totaal": shown(everyone),  # a cell of its own, not the sum of the shown cells
    }
    assert [row[0] for row in rows[1:]] == [*PHASE.values(), "Totaal"]
    # Within the published bound of the truth, and never a count from 1 to 4.
    for cases in (application, everyone):  # 7 or more: never below 5 after the noise
        value = int(shown(cases))
        assert abs(value - len(cases)) <= disclosure.MAX_NOISE
    assert no_small_count(visible_numbers(rows))


def test_the_unknown_row_appears_only_when_some_report_left_the_field_empty(as_monitor):
    institution = make_institution()
    made = reports(6, institution, MARCH, phase="application", form="remark")
    publish()

    rows = table_rows(view(as_monitor, **Q1_2025, dimension="form"))

    assert "Niet ingevuld" not in column(rows)
    assert column(rows)["Een opmerking of grap"] == shown(made)
    assert column(rows)["Totaal"] == shown(made)


def test_a_report_with_several_grounds_counts_once_per_ground_and_the_page_says_so(as_monitor):
    institution = make_institution()
    made = reports(6, institution, MARCH, grounds=["origin", "religion"])
    made += reports(5, institution, MARCH, grounds=["origin"])
    none = reports(5, institution, MARCH, grounds=[])  # no ground given
    made += none
    made += reports(2, institution, MARCH, grounds=["unknown"])  # "Weet ik niet"
    made += reports(5, institution, MARCH, grounds=["age", "name", "language"])
    publish()

    page = view(as_monitor, **Q1_2025, dimension="ground")
    found = column(table_rows(page))

    assert found["Afkomst, huidskleur of etniciteit"] == shown(with_ground(made, "origin"))
    assert len(with_ground(made, "origin")) == 11
    religion = "Geloof of levensovertuiging (bijvoorbeeld een hoofddoek)"
    assert found[religion] == shown(with_ground(made, "religion"))
    assert found["Leeftijd"] == shown(with_ground(made, "age"))
    # Reports without a ground, and reports whose student did not know, each have their row.
    assert found["Niet ingevuld"] == shown(none)
    assert found["Weet ik niet"] == shown(with_ground(made, "unknown"))
    assert found["Handicap of chronische ziekte"] == shown([])
    # The total counts reports (23), not (report, ground) pairs.
    assert found["Totaal"] == shown(made)
    assert PER_GROUND_NOTE in hints_after(page)
    # The note is there whenever ground is one of the axes, and only then.
    assert PER_GROUND_NOTE in hints_after(
        view(as_monitor, **Q1_2025, dimension="phase", dimension2="ground")
    )
    assert PER_GROUND_NOTE in hints_after(
        view(as_monitor, **Q1_2025, level="region", dimension="ground")
    )
    assert PER_GROUND_NOTE not in hints_after(view(as_monitor, **Q1_2025, dimension="phase"))


# --- Handling measures, from perturbed counts only --------------------------------------------


def _histogram(cases, days_of) -> list[tuple[int, int, int]]:
    """(whole days, reports, key sum) per whole day, worked out from the cases by hand."""
    by_day: dict[int, list[Case]] = {}
    for case in cases:
        days = days_of(case)
        if days is not None:
            by_day.setdefault(days, []).append(case)
    return [(d, len(cs), sum(c.record_key for c in cs)) for d, cs in by_day.items()]


def _pair(cases) -> tuple[int, int]:
    return len(cases), sum(c.record_key for c in cases)


def _expected_median(histogram) -> str:
    value = disclosure.median(histogram)
    return "–" if value is None else str(value)


def _expected_share(met, due) -> str:
    value = disclosure.share(_pair(met), _pair(due))
    return "–" if value is None else f"{value}%"


def test_medians_and_shares_come_from_perturbed_counts_of_at_least_twenty_reports(as_monitor):
    institution = make_institution()
    # Application: 30 reports acknowledged after 0..9 whole days (due after 5), closed
    # after 20..49 days. Internship: 12 reports, too few for any measure.
    application = [
        report(
            institution,
            MARCH,
            phase="application",
            ack=i % 10 + 0.5,
            feedback=i % 10 + 10,
            closed=20 + i,
        )
        for i in range(30)
    ]
    internship = reports(12, institution, MARCH, phase="internship", ack=2.5, closed=15)
    publish()

    rows = table_rows(view(as_monitor, **Q1_2025, dimension="phase"))
    found = {row[0]: row[1:] for row in rows[1:]}

    ack_days = lambda c: int((c.acknowledged_at - c.submitted_at).days)  # noqa: E731
    close_days = lambda c: int((c.closed_at - c.submitted_at).days)  # noqa: E731
    on_time = [c for c in application if c.ack_on_time]
    assert 0 < len(on_time) < 30
    assert found[PHASE["application"]] == [
        shown(application),
        _expected_median(_histogram(application, ack_days)),
        _expected_median(_histogram(application, close_days)),
        _expected_share(on_time, application),
        _expected_share([c for c in application if c.feedback_on_time], application),
    ]
    # Whole days and whole percents, shown for this group of 30.
    assert re.fullmatch(r"\d+", found[PHASE["application"]][1])
    assert re.fullmatch(r"\d+%", found[PHASE["application"]][3])
    # Twelve reports: no median, no share, whatever their noise.
    assert found[PHASE["internship"]][1:] == ["–", "–", "–", "–"]
    everyone = application + internship
    assert found["Totaal"][1] == _expected_median(_histogram(everyone, ack_days))
    assert found["Totaal"][3] == _expected_share([c for c in everyone if c.ack_on_time], everyone)


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


def test_an_overdue_report_that_was_never_acknowledged_counts_as_a_missed_deadline(as_monitor):
    institution = make_institution()
    late = reports(24, institution, MARCH, phase="school")  # never acknowledged, long overdue
    publish()

    row = column(table_rows(view(as_monitor, **Q1_2025, dimension="phase")), 4)

    assert row[PHASE["school"]] == _expected_share([], late) == "0%"


# --- Periods: closed quarters, school years and calendar years only ---------------------------

BOUNDARIES = [
    # (parameters, caption period, in at the start, in at the end, out before, out after)
    pytest.param(
        YEAR_2025,
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
        Q1_2025,
        "2025 Q1",
        "2024-12-31T23:00:00",
        "2025-03-31T21:59:00",  # summer time since 30 March
        "2024-12-31T22:59:00",
        "2025-03-31T22:00:00",
        id="quarter",
    ),
    pytest.param(
        {"period": "quarter", "year": 2025, "quarter": 4},
        "2025 Q4",
        "2025-09-30T22:00:00",
        "2025-12-31T22:59:00",  # winter time since 26 October
        "2025-09-30T21:59:00",
        "2025-12-31T23:00:00",
        id="quarter-over-the-clock-change",
    ),
]


@pytest.mark.parametrize(("params", "label", "first", "last", "before", "after"), BOUNDARIES)
def test_periods_begin_and_end_at_midnight_in_the_netherlands(
    as_monitor, params, label, first, last, before, after
):
    institution = make_institution()
    inside = reports(5, institution, at(first), phase="application")
    inside += reports(5, institution, at(last), phase="application")
    reports(5, institution, at(before), phase="school")
    reports(5, institution, at(after), phase="other")
    publish()

    page = view(as_monitor, dimension="phase", **params)

    assert caption(page)[1] == label
    assert column(table_rows(page)) == {
        PHASE["application"]: shown(inside),
        PHASE["internship"]: shown([]),
        PHASE["school"]: shown([]),
        PHASE["other"]: shown([]),
        "Totaal": shown(inside),
    }


def test_a_report_of_new_years_night_counts_in_the_dutch_year(as_monitor):
    institution = make_institution()
    reports(5, institution, at("2023-06-01T10:00:00"), phase="other")  # figures start here
    made = reports(5, institution, at("2024-12-31T23:30:00"), phase="application")
    publish()

    assert counts(as_monitor, period="year", year=2024, dimension="phase")[
        PHASE["application"]
    ] == shown([])
    assert counts(as_monitor, **YEAR_2025, dimension="phase")["Totaal"] == shown(made)


def test_a_period_that_had_not_ended_when_the_figures_were_computed_is_not_served(
    as_monitor, monkeypatch
):
    institution = make_institution()
    winter = reports(6, institution, at("2025-02-12T10:00:00"), phase="internship")
    reports(6, institution, at("2025-05-12T10:00:00"), phase="application")
    # The figures were computed on 20 June 2025: the second quarter was still running.
    monkeypatch.setattr(statistics, "utcnow", lambda: at("2025-06-20T10:00:00"))
    publish()
    monkeypatch.undo()

    refused = view(as_monitor, status=422, period="quarter", year=2025, quarter=2)
    assert field_error(refused, "year") == (
        "Voor deze periode zijn er geen cijfers: kies een periode die al voorbij was toen de "
        "cijfers werden berekend."
    )
    assert 'id="stats-table"' not in refused
    assert (
        as_monitor.get(
            "/statistieken/export.csv",
            query_string={"period": "quarter", "year": 2025, "quarter": 2},
        ).status_code
        == 400
    )
    # The first quarter had ended: it is served.
    assert counts(as_monitor, **Q1_2025, dimension="phase")["Totaal"] == shown(winter)


@pytest.mark.parametrize(
    "params",
    [
        {"period": "month", "year": 2025, "month": 3},
        {"period": "range", "date_from": "2025-03-01", "date_to": "2025-03-15"},
    ],
    ids=["month", "range"],
)
def test_a_single_month_or_a_range_of_months_is_not_served(as_monitor, params):
    """Noise that is the same for the same cell would cancel out over many overlapping
    ranges: only fixed periods are served (docs/statistics.md)."""
    reports(6, make_institution(), MARCH, phase="application")
    publish()

    page = view(as_monitor, status=422, dimension="phase", **params)

    assert field_error(page, "period")
    assert 'id="stats-table"' not in page


def test_without_computed_figures_the_page_says_so_and_shows_no_table(as_monitor):
    reports(6, make_institution(), MARCH, phase="application")
    db.session.commit()

    page = view(as_monitor)

    assert "Er zijn nog geen cijfers berekend." in page
    assert 'id="stats-table"' not in page
    assert audit_events("statistics.viewed") == []


def test_the_page_without_a_choice_shows_the_latest_closed_quarter_by_phase(as_monitor):
    made = reports(6, make_institution(), MARCH, phase="application")
    publish()
    latest = statistics.publication().periods("quarter")[-1]

    page = view(as_monitor)

    assert caption(page) == ("Meldingen naar fase", latest.label)
    if latest.code == "2025-q1":  # pragma: no cover (only on a machine whose clock says so)
        assert column(table_rows(page))["Totaal"] == shown(made)


# --- Levels -------------------------------------------------------------------------------


def test_level_region_counts_each_institutions_reports_under_its_region(as_monitor):
    north_1 = make_institution(name="Noorderpoort", region="Groningen")
    north_2 = make_institution(name="Alfa-college", region="Groningen")
    south = make_institution(name="Summa", region="Eindhoven")
    nowhere = make_institution(name="Zonder Regio", region="")
    make_institution(name="Stil College", region="Zeeland")  # no reports
    north_application = reports(5, north_1, MARCH, phase="application")
    north_internship = reports(5, north_2, MARCH, phase="internship")
    south_application = reports(6, south, MARCH, phase="application")
    nowhere_other = reports(5, nowhere, MARCH, phase="other")
    publish()

    rows = table_rows(view(as_monitor, **Q1_2025, level="region", dimension="phase"))

    assert rows[0] == [
        "Regio",
        *[PHASE[p] for p in ("application", "internship", "school", "other")],
        "Totaal",
    ]
    everyone = north_application + north_internship + south_application + nowhere_other
    north = north_application + north_internship
    assert rows[1:] == [
        [
            "Eindhoven",
            shown(south_application),
            shown([]),
            shown([]),
            shown([]),
            shown(south_application),
        ],
        [
            "Groningen",
            shown(north_application),
            shown(north_internship),
            shown([]),
            shown([]),
            shown(north),
        ],
        ["Zeeland", shown([]), shown([]), shown([]), shown([]), shown([])],
        ["Onbekend", shown([]), shown([]), shown([]), shown(nowhere_other), shown(nowhere_other)],
        [
            "Totaal",
            shown(north_application + south_application),
            shown(north_internship),
            shown([]),
            shown(nowhere_other),
            shown(everyone),
        ],
    ]


def test_level_institution_is_per_school_year_with_rare_categories_merged(as_monitor):
    albeda = make_institution(name="Albeda")
    make_institution(name="Berechja")  # no reports: a row of zeros
    curio = make_institution(name="Curio")
    phone = reports(5, albeda, MARCH, channel=Channel.PHONE)
    web = reports(7, curio, MARCH, channel=Channel.WEB)
    mail = reports(5, curio, MARCH, channel=Channel.MAIL)
    publish()
    school_year = {"period": "school_year", "year": 2024}

    page = view(as_monitor, **school_year, level="institution", dimension="channel")
    rows = table_rows(page)

    # Telephone, visit, mail: one column per institution, the union of their reports.
    assert rows == [
        ["Instelling", "Webformulier", "Telefoon, bezoek, mail of brief", "Totaal"],
        ["Albeda", shown([]), shown(phone), shown(phone)],
        ["Berechja", shown([]), shown([]), shown([])],
        ["Curio", shown(web), shown(mail), shown(web + mail)],
        ["Totaal", shown(web), shown(phone + mail), shown(phone + web + mail)],
    ]
    assert "Per instelling zijn zeldzame categorieën samengevoegd." in hints_after(page)
    # Per institution only per school year.
    refused = view(as_monitor, status=422, **Q1_2025, level="institution", dimension="channel")
    assert field_error(refused, "level") == "Per instelling kan alleen per schooljaar."


# --- One cell, one number, whatever table it is in ------------------------------------------


def test_a_cell_has_the_same_number_in_every_table_it_appears_in(as_monitor):
    """The per-table rule gave a hidden count away by another table of the period (issue 12):
    now the one-way table's row, the two-way table's margin and the trend's point are the
    same cell, with the same number."""
    institution = make_institution()
    application = reports(7, institution, MARCH, phase="application", grounds=["origin", "name"])
    school = reports(2, institution, MARCH, phase="school", grounds=[])
    publish()

    one_way = column(table_rows(view(as_monitor, **Q1_2025, dimension="phase")))
    two_way = table_rows(view(as_monitor, **Q1_2025, dimension="phase", dimension2="ground"))
    margins = {row[0]: row[-1] for row in two_way[1:]}
    transposed = table_rows(view(as_monitor, **Q1_2025, dimension="ground", dimension2="phase"))
    column_margins = dict(zip(transposed[0][1:-1], transposed[-1][1:-1], strict=True))
    trend = table_rows(view(as_monitor, period="trend", granularity="quarter", dimension="phase"))
    first_quarter = next(row for row in trend if row[0] == "2025 Q1")

    assert one_way[PHASE["school"]] == margins[PHASE["school"]] == shown(school)
    assert column_margins[PHASE["school"]] == shown(school)
    assert one_way[PHASE["application"]] == margins[PHASE["application"]] == shown(application)
    assert one_way["Totaal"] == margins["Totaal"] == first_quarter[-1]
    # The inner cells of the two-way table are their own reports.
    inner = {row[0]: row[1:-1] for row in two_way[1:]}
    grounds = two_way[0][1:-1]
    origin = grounds.index("Afkomst, huidskleur of etniciteit")
    assert inner[PHASE["application"]][origin] == shown(application)


def test_a_two_way_table_counts_each_pair_of_codes_and_has_counts_only(as_monitor):
    institution = make_institution()
    truth = {
        ("application", "open"): 6,
        ("application", "resolved"): 5,
        ("application", "withdrawn"): 2,
        ("internship", "open"): 5,
        ("internship", "resolved"): 7,
        ("school", "not_substantiated"): 5,
    }
    made = {}
    for (phase, outcome), n in truth.items():
        if outcome == "open":
            made[(phase, outcome)] = reports(n, institution, MARCH, phase=phase)
        else:
            made[(phase, outcome)] = reports(
                n, institution, MARCH, phase=phase, closed=3, outcome=Outcome(outcome)
            )
    publish()

    rows = table_rows(view(as_monitor, **Q1_2025, dimension="phase", dimension2="outcome"))

    phases = ["application", "internship", "school", "other"]
    outcomes = ["open", *(str(o) for o in Outcome)]
    assert rows[0][0] == "Fase" and rows[0][-1] == "Totaal"
    assert len(rows[0]) == len(outcomes) + 2
    for r, phase in enumerate(phases):
        for c, outcome in enumerate(outcomes):
            assert rows[1 + r][1 + c] == shown(made.get((phase, outcome), [])), (phase, outcome)
    assert no_small_count(visible_numbers(rows))
    assert "Mediaan" not in "".join(rows[0])


def test_referred_escalated_and_sbb_decision_count_each_case_once(as_monitor):
    institution = make_institution()
    handler = make_user(Role.HANDLER, institution)
    company = make_company()
    referred = reports(5, institution, MARCH, ack=1)
    warned = reports(5, institution, MARCH, ack=1)
    improved = reports(5, institution, MARCH, ack=1)
    neither = reports(5, institution, MARCH)
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
    publish()
    everyone = referred + warned + improved + neither

    assert counts(as_monitor, **Q1_2025, dimension="referred") == {
        "Ja": shown(referred),
        "Nee": shown(warned + improved + neither),
        "Totaal": shown(everyone),
    }
    assert counts(as_monitor, **Q1_2025, dimension="escalated") == {
        "Ja": shown(warned + improved),
        "Nee": shown(referred + neither),
        "Totaal": shown(everyone),
    }
    assert counts(as_monitor, **Q1_2025, dimension="sbb_decision") == {
        "Geen besluit": shown(referred + neither),
        "Ongegrond of geen actie": shown([]),
        "Gesprek gevoerd met het bedrijf": shown([]),
        "Verbeterafspraken met voorwaarden": shown(improved),
        "Waarschuwing": shown(warned),
        "Schorsing: tijdelijk geen nieuwe studenten": shown([]),
        "Intrekking van de erkenning": shown([]),
        "Totaal": shown(everyone),
    }


def test_outcome_and_channel_use_every_value_of_their_vocabulary(as_monitor):
    institution = make_institution()
    visits = reports(
        5, institution, MARCH, channel=Channel.VISIT, closed=4, outcome=Outcome.ADV_CLOSED
    )
    web = reports(6, institution, MARCH, channel=Channel.WEB)
    publish()

    outcome = counts(as_monitor, **Q1_2025, dimension="outcome")
    channel = counts(as_monitor, **Q1_2025, dimension="channel")

    assert outcome["Nog open"] == shown(web)
    assert outcome["Doorverwezen en afgesloten door ADV"] == shown(visits)
    assert len(outcome) == 1 + len(Outcome) + 1
    assert channel == {
        "Webformulier": shown(web),
        "Telefoon": shown([]),
        "Bezoek": shown(visits),
        "Mail of brief": shown([]),
        "Totaal": shown(web + visits),
    }


# --- The trend -------------------------------------------------------------------------------


def test_the_trend_has_a_row_per_closed_period_each_the_same_cell_as_in_its_own_table(
    as_monitor,
):
    institution = make_institution()
    winter = reports(6, institution, at("2024-11-05T10:00:00"), phase="application")
    spring = reports(8, institution, MARCH, phase="internship")
    publish()

    page = view(as_monitor, period="trend", granularity="quarter", dimension="phase")
    rows = table_rows(page)

    assert caption(page) == (
        "Meldingen per kwartaal, naar fase",
        "alle periodes waarvan de cijfers klaar zijn",
    )
    assert rows[0][-1] == "Totaal"
    labels = [row[0] for row in rows[1:]]
    assert labels[:2] == ["2024 Q4", "2025 Q1"]
    assert "Totaal" not in labels  # a trend has no total row
    expected = [q.label for q in statistics.publication().periods("quarter")]
    assert labels == expected
    by_period = {row[0]: row[1:] for row in rows[1:]}
    assert by_period["2024 Q4"][-1] == shown(winter)
    assert by_period["2025 Q1"][-1] == shown(spring)
    assert by_period["2025 Q1"][-1] == counts(as_monitor, **Q1_2025, dimension="phase")["Totaal"]
    # The chart draws each period's total, narrow enough for a phone at full size.
    groups = chart_groups(page)
    assert [g[0] for g in groups] == labels
    assert [g[1] for g in groups] == [[row[-1]] for row in rows[1:]]
    assert 'class="chart chart-narrow"' in page
    svg = re.search(r'<svg[^>]*viewBox="0 0 (\d+) \d+"', page)
    assert int(svg.group(1)) <= 340
    # Per school year and per calendar year too; only for the whole sector.
    years = table_rows(view(as_monitor, period="trend", granularity="year", dimension="phase"))
    assert [row[0] for row in years[1:3]] == ["2024", "2025"]
    refused = view(as_monitor, status=422, period="trend", granularity="year", level="region")
    assert field_error(refused, "level") == "Een verloop is er alleen voor de hele sector."


def test_the_chart_draws_exactly_the_numbers_of_the_table(as_monitor):
    seed_mixed()
    for params in (
        {**YEAR_2025, "dimension": "phase"},
        {**YEAR_2025, "dimension": "ground"},
        {**YEAR_2025, "dimension": "phase", "dimension2": "outcome"},
        {"period": "school_year", "year": 2024, "level": "institution", "dimension": "phase"},
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
            assert drawn == sum(1 for t in expected if t != "<5"), (params, row[0])
        if two_way:
            legend = re.findall(r"</svg> ([^<]+)</li>", page)
            assert [html_lib.unescape(x).strip() for x in legend] == rows[0][1:-1]


# --- Exports ---------------------------------------------------------------------------------

EXPORT_QUERIES = [
    pytest.param(
        {**YEAR_2025, "dimension": "phase"},
        "meldingen_phase_2025",
        id="year-phase",
    ),
    pytest.param(
        {**Q1_2025, "dimension": "phase", "dimension2": "ground"},
        "meldingen_phase_ground_2025-q1",
        id="quarter-two-way",
    ),
    pytest.param(
        {"period": "school_year", "year": 2024, "level": "institution", "dimension": "outcome"},
        "meldingen_institution_outcome_2024-2025",
        id="school-year-institutions",
    ),
    pytest.param(
        {**Q1_2025, "level": "region", "dimension": "channel"},
        "meldingen_region_channel_2025-q1",
        id="quarter-regions",
    ),
    pytest.param(
        {"period": "trend", "granularity": "quarter", "dimension": "ground"},
        "meldingen_period_ground_verloop-quarter",
        id="trend-ground",
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

    # CSV: starts with its header row (a code column first), then the page's rows.
    lines = csv_rows(files["csv"])
    assert lines[0] == ["code", *rows[0]]
    assert len(lines) == len(rows)
    for line, row in zip(lines[1:], rows[1:], strict=True):
        assert line[1] == safe(row[0])
        assert [text.replace("%", "") if text != "–" else "" for text in row[1:]] == line[2:]
    assert files["csv"].mimetype == "text/csv"

    # XLSX: the table on the first sheet, header first, numbers as numbers; the title,
    # period, rule and notes on the second.
    book = xlsx_book(files["xlsx"])
    assert [s.title for s in book.worksheets] == ["Tabel", "Toelichting"]
    sheet = xlsx_rows(files["xlsx"])
    assert sheet[0] == ["code", *rows[0]]
    assert_machine_rows_match_page(rows, [(line[1], line[2:]) for line in sheet[1:]])
    notes_sheet = [line[0] for line in xlsx_rows(files["xlsx"], 1)]
    assert notes_sheet == [title, period, RULE, *notes]

    # JSON: the API's form, codes beside labels.
    data = json.loads(files["json"].get_data(as_text=True))
    assert files["json"].mimetype == "application/json"
    assert data["title"] == title
    assert data["period"]["label"] == period
    assert data["method"]["description"] == RULE
    assert data["method"]["name"] == "cell-key"
    assert data["notes"] == notes
    assert [c["label"] for c in data["columns"]] == rows[0][1:]
    assert data["rows_are"]["label"] == rows[0][0]
    assert_machine_rows_match_page(rows, [(r["label"], r["values"]) for r in data["rows"]])
    assert [r["code"] for r in data["rows"]] == [line[0] for line in lines[1:]]
    assert data["level"]["code"] == params.get("level", "sector")
    assert [d["code"] for d in data["dimensions"]] == [
        params["dimension"],
        *filter(None, [params.get("dimension2")]),
    ]


def test_the_json_export_gives_the_periods_code_first_day_and_the_day_after(as_monitor):
    seed_mixed()
    for params, code, start, end in (
        (YEAR_2025, "2025", "2025-01-01", "2026-01-01"),
        ({"period": "school_year", "year": 2024}, "2024-2025", "2024-08-01", "2025-08-01"),
        ({"period": "quarter", "year": 2025, "quarter": 4}, "2025-q4", "2025-10-01", "2026-01-01"),
    ):
        data = as_monitor.get("/statistieken/export.json", query_string=params).get_json()
        found = data["period"]
        assert (found["code"], found["start"], found["end"]) == (code, start, end), params


def test_text_a_spreadsheet_would_run_is_escaped_in_xlsx_and_csv(as_monitor):
    for name in FORMULA_NAMES:
        reports(5, make_institution(name=name), MARCH, phase="application")
    reports(5, make_institution(name="Gewoon College"), MARCH, phase="internship")
    publish()
    params = {"period": "school_year", "year": 2024, "level": "institution", "dimension": "phase"}
    page = view(as_monitor, **params)
    names = [row[0] for row in table_rows(page)[1:-1]]
    assert sorted(names) == sorted([*FORMULA_NAMES, "Gewoon College"])

    sheet = xlsx_book(as_monitor.get("/statistieken/export.xlsx", query_string=params)).active
    labels = {}
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", cell.coordinate  # no formula anywhere
        labels[row[1].value] = row[1]
    for name in FORMULA_NAMES:
        cell = labels["'" + name]
        assert cell.data_type == "s"
        assert name not in labels
    assert labels["Gewoon College"].data_type == "s"
    # The counts stay numbers (or "<5").
    assert isinstance(labels["'" + FORMULA_NAMES[0]].offset(column=1).value, int | str)

    lines = csv_rows(as_monitor.get("/statistieken/export.csv", query_string=params))
    second_cells = [line[1] for line in lines]
    for name in FORMULA_NAMES:
        assert "'" + name in second_cells
        assert name not in second_cells
    assert "Gewoon College" in second_cells
    assert not any(cell[:1] in ("=", "+", "-", "@") for line in lines for cell in line)

    # JSON is data, not a spreadsheet: the names as they are.
    data = as_monitor.get("/statistieken/export.json", query_string=params).get_json()
    assert sorted(row["label"] for row in data["rows"][:-1]) == sorted(names)


def test_the_csv_export_says_its_charset_once(as_monitor):
    seed_mixed()
    response = as_monitor.get("/statistieken/export.csv", query_string=YEAR_2025)
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"


# --- One rule for every path ------------------------------------------------------------------


def test_no_count_from_1_to_4_is_visible_on_any_page_chart_export_or_api_response(
    runner, client, auth
):
    from stagepact import api_tokens

    monitor = load_demo(runner, auth)
    _token, plain = api_tokens.create(monitor, "sweep")
    db.session.commit()
    bearer = {"Authorization": f"Bearer {plain}"}
    found = statistics.publication()
    periods = [{"period": "trend", "granularity": "quarter"}]
    for kind in ("quarter", "school_year", "year"):
        for period in found.periods(kind):
            params = {"period": kind, "year": period.start.year}
            if kind == "quarter":
                params["quarter"] = (period.start.month - 1) // 3 + 1
            periods.append(params)
    assert len(periods) > 3
    choices = [{"dimension": d} for d in DIMENSIONS]
    choices += [{"level": "region", "dimension": d} for d in DIMENSIONS]
    choices += [
        {"dimension": a, "dimension2": b}
        for i, a in enumerate(DIMENSIONS)
        for b in DIMENSIONS[i + 1 :]
    ]
    companies = db.session.scalars(sa.select(Company.name)).all()
    assert companies
    hidden_seen = 0
    for period in periods:
        for choice in choices:
            if period["period"] == "trend" and ("level" in choice or "dimension2" in choice):
                continue
            params = {**period, **choice}
            page = view(client, **params)
            rows = table_rows(page)
            assert no_small_count(count_cells(rows[0], rows[1:])), params
            assert no_small_count(t for _l, texts, _d in chart_groups(page) for t in texts), params
            api = client.get("/api/v1/statistics", query_string=params, headers=bearer)
            assert api.status_code == 200
            api_rows = [(r["label"], r["values"]) for r in api.get_json()["rows"]]
            assert_machine_rows_match_page(rows, api_rows)
            for name in companies:
                assert name not in page and name not in api.get_data(as_text=True), name
            hidden_seen += sum(cell == "<5" for cell in visible_numbers(rows))
    assert hidden_seen > 50  # the demo has small numbers to hide
    # The exports of a few.
    for choice in choices[:: len(DIMENSIONS) - 1]:
        params = {**periods[1], **choice}
        lines = csv_rows(client.get("/statistieken/export.csv", query_string=params))
        header = ["code", *table_rows(view(client, **params))[0]]
        assert lines[0] == header
        assert no_small_count(count_cells(header[1:], [line[1:] for line in lines[1:]]))


# --- Invalid choices ---------------------------------------------------------------------------

INVALID_CHOICES = [
    pytest.param(
        {"dimension": "phase", "dimension2": "phase"},
        {"dimension2": "Kies twee verschillende kenmerken."},
        id="same-dimension-twice",
    ),
    pytest.param(
        {"level": "region", "dimension": "phase", "dimension2": "ground"},
        {
            "dimension2": "Per regio, per instelling en in een verloop kan één kenmerk; "
            "kies hier 'Niets'."
        },
        id="two-dimensions-per-region",
    ),
    pytest.param(
        {"period": "trend", "dimension": "phase", "dimension2": "form"},
        {
            "dimension2": "Per regio, per instelling en in een verloop kan één kenmerk; "
            "kies hier 'Niets'."
        },
        id="two-dimensions-in-a-trend",
    ),
    pytest.param({"year": "1999"}, {"year": "Kies een jaar tussen 2000 en 2100."}, id="year-1999"),
    pytest.param({"year": "2101"}, {"year": "Kies een jaar tussen 2000 en 2100."}, id="year-2101"),
    pytest.param({"period": "year", "year": ""}, {"year": "Vul een jaar in."}, id="year-empty"),
    pytest.param({"year": "twintig"}, {"year": None}, id="year-not-a-number"),
    pytest.param({"period": "decade"}, {"period": None}, id="unknown-period"),
    pytest.param({"dimension": "company"}, {"dimension": None}, id="unknown-dimension"),
    pytest.param({"level": "world"}, {"level": None}, id="unknown-level"),
    pytest.param({"quarter": "5"}, {"quarter": None}, id="quarter-5"),
    pytest.param(
        {"period": "trend", "granularity": "month"}, {"granularity": None}, id="trend-month"
    ),
]


@pytest.mark.parametrize(("params", "errors"), INVALID_CHOICES)
def test_an_impossible_choice_is_422_with_the_message_beside_the_field(as_monitor, params, errors):
    reports(5, make_institution(), MARCH, phase="application")
    publish()
    query = {**Q1_2025, **params}

    page = view(as_monitor, status=422, **query)

    assert 'class="error-summary"' in page
    assert 'id="stats-table"' not in page
    for field, message in errors.items():
        found = field_error(page, field)
        if message is not None:
            assert found == message
        else:
            assert found
        assert f'href="#{field}"' in page
    assert audit_events("statistics.viewed") == []
    for kind in ("csv", "xlsx", "json"):
        assert as_monitor.get(f"/statistieken/export.{kind}", query_string=query).status_code == 400
    assert audit_events("statistics.exported") == []


# --- Audit -----------------------------------------------------------------------------------


def test_every_view_and_export_is_an_audit_event_with_its_parameters_and_nothing_personal(
    as_monitor, monitor
):
    world = seed_mixed()
    params = {**Q1_2025, "dimension": "phase"}

    view(as_monitor, **params)
    for kind in ("csv", "xlsx", "json"):
        assert (
            as_monitor.get(f"/statistieken/export.{kind}", query_string=params).status_code == 200
        )
    view(as_monitor, period="school_year", year=2024, level="institution", dimension="ground")

    viewed = audit_events("statistics.viewed")
    exported = audit_events("statistics.exported")
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
        "period": "school_year",
        "year": "2024",
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
    rest = {
        "application": reports(3, other, MARCH, phase="application"),
        "internship": reports(7, other, MARCH, phase="internship"),
        "school": reports(5, third, MARCH, phase="school"),
    }
    publish()
    return own, rest


@pytest.mark.parametrize("role", [Role.HANDLER, Role.INSTITUTION_ADMIN])
def test_institution_staff_see_their_own_figures_exactly_beside_the_protected_rest(
    client, auth, role
):
    own, rest = _own_and_rest()
    user = make_user(role, own)
    auth.login(user)

    page = view(client, **Q1_2025, dimension="phase")

    own_rows = table_rows(page, "own-table")
    rest_rows = table_rows(page, "rest-table")
    assert column(own_rows) == {
        PHASE["application"]: "2",  # their own reports: exact, nothing hidden
        PHASE["internship"]: "6",
        PHASE["school"]: "0",
        PHASE["other"]: "0",
        "Totaal": "8",
    }
    assert hints_after(page, "own-table")[0] == (
        "Uw eigen meldingen, precies: hier is niets verstoord of verborgen."
    )
    # The rest of the sector: the other institutions' reports, each cell perturbed with
    # their own keys, so that subtracting the own figures gives nothing away.
    everyone_else = rest["application"] + rest["internship"] + rest["school"]
    assert column(rest_rows) == {
        PHASE["application"]: shown(rest["application"]),
        PHASE["internship"]: shown(rest["internship"]),
        PHASE["school"]: shown(rest["school"]),
        PHASE["other"]: shown([]),
        "Totaal": shown(everyone_else),
    }
    assert hints_after(page, "rest-table")[0] == RULE
    assert no_small_count(visible_numbers(rest_rows))
    assert own_rows[0] == rest_rows[0] == ["Fase", *MEASURE_HEADER]
    # Levels, two dimensions and trends are for monitors.
    refused = view(client, status=422, **Q1_2025, level="institution")
    assert field_error(refused, "dimension").startswith("Dit niveau is hier niet beschikbaar")
    refused = view(client, status=422, **Q1_2025, dimension="phase", dimension2="channel")
    assert field_error(refused, "dimension").startswith("Dit niveau is hier niet beschikbaar")
    assert "Ander College" not in refused and "Ander College" not in page
    viewed = audit_events("statistics.viewed")
    assert len(viewed) == 1
    assert json.loads(viewed[0].details) == {
        "own_institution": True,
        "parameters": {
            "period": "quarter",
            "year": "2025",
            "quarter": "1",
            "level": "sector",
            "dimension": "phase",
        },
    }
    assert viewed[0].institution_id == own.id


# --- Publishing and retention ------------------------------------------------------------------


def test_publishing_again_gives_the_same_tables_and_no_case_is_read_into_the_rollup(as_monitor):
    seed_mixed()
    before = table_rows(view(as_monitor, **YEAR_2025, dimension="ground"))
    rows_before = db.session.scalar(sa.select(sa.func.count()).select_from(RollupRow))

    publish()

    assert table_rows(view(as_monitor, **YEAR_2025, dimension="ground")) == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RollupRow)) == rows_before
    # The rollup holds codes and sums only.
    columns = {c.name for c in RollupRow.__table__.columns}
    assert not columns & {"case_id", "narrative", "number", "reporter_name", "record_key"}


def test_the_publish_command_builds_the_rollup_and_is_audited(runner, as_monitor):
    reports(6, make_institution(), MARCH, phase="application")
    db.session.commit()

    result = runner.invoke(args=["stagepact", "publish-statistics"])

    assert result.exit_code == 0, result.output
    assert "Statistieken berekend" in result.output
    assert len(audit_events("statistics.published")) == 1
    assert 'id="stats-table"' in view(as_monitor, **Q1_2025, dimension="phase")


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

    queries = [{**YEAR_2025, "dimension": d} for d in DIMENSIONS]
    queries += [{**YEAR_2025, "level": "region", "dimension": "outcome"}]
    queries += [
        {"period": "school_year", "year": 2024, "level": "institution", "dimension": "outcome"},
        {**YEAR_2025, "dimension": "phase", "dimension2": "ground"},
        {"period": "trend", "granularity": "quarter", "dimension": "outcome"},
    ]

    def tables(as_client):
        return [table_rows(view(as_client, **q)) for q in queries]

    def own_tables():
        pages = [view(client, **q) for q in queries[: len(DIMENSIONS)]]
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
    publish()
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
