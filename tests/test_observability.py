"""The operator's view: Prometheus metrics behind a token, with nothing per institution, and
JSON log lines with a request id that never hold what a student typed, their code or
their address."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from stagepact import logs, metrics
from stagepact.extensions import db
from stagepact.vocab import Role
from tests.factories import make_case, make_institution, make_user
from tests.helpers import page_text
from tests.uploads import post_report

TOKEN = "a-metrics-token-of-the-operator-0123456789"
STUDENT_ADDRESS = "203.0.113.77"
NAME = "Fatima GEHEIMNAAM"
EMAIL = "fatima.geheim@example.org"
NARRATIVE = "GEHEIM-VERHAAL: bij Bakkerij De Korf mocht ik met mijn hoofddoek niet beginnen."
MESSAGE = "GEHEIM-BERICHT: de begeleider belde me vandaag terug."


@pytest.fixture
def operator(app, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", TOKEN)
    return {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def meldpunt():
    institution = make_institution(name="Horizon Testcollege")
    handler = make_user(Role.HANDLER, institution, name="Hanna Behandelaar")
    db.session.commit()
    return institution, handler


def _value(exposition: str, name: str, **labels) -> float | None:
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    pattern = rf"^{re.escape(name)}{{{re.escape(wanted)}}} (\S+)$" if labels else rf"^{name} (\S+)$"
    found = re.search(pattern, exposition, re.MULTILINE)
    return float(found.group(1)) if found else None


# --- /metrics -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-the-token"}, {"Authorization": TOKEN}],
    ids=["none", "wrong", "not-bearer"],
)
def test_metrics_are_a_404_without_the_operators_token(client, operator, headers):
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 404
    assert "stagepact_" not in response.get_data(as_text=True)


def test_metrics_are_off_without_a_token_configured(client, app):
    assert app.config["METRICS_TOKEN"] is None
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


def test_metrics_count_requests_reports_mail_jobs_and_cases_platform_wide(
    client, operator, meldpunt
):
    institution, _handler = meldpunt
    make_case(make_institution(name="Tweede College"))
    db.session.commit()
    before = client.get("/metrics", headers=operator).get_data(as_text=True)
    submitted = _value(before, "stagepact_reports_submitted_total", channel="web")

    assert post_report(client, institution).status_code == 200
    response = client.get("/metrics", headers=operator)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    assert _value(text, "stagepact_reports_submitted_total", channel="web") == submitted + 1
    assert _value(text, "stagepact_cases_open") == 2
    assert _value(text, "stagepact_cases_overdue") == 0
    assert _value(text, "stagepact_outbox_backlog") >= 1  # the handlers' notice
    assert _value(text, "stagepact_outbox_given_up") == 0
    assert _value(text, "stagepact_job_last_success_timestamp_seconds", job="send-mail") == 0
    assert (
        _value(text, "stagepact_request_seconds_count", endpoint="student.report", method="POST")
        >= 1
    )
    # Nothing per institution: no name, slug or id of one, and no such label.
    assert "Horizon" not in text and institution.slug not in text
    labels = set(re.findall(r"[{,](\w+)=", text))
    assert labels <= {"endpoint", "method", "channel", "job", "le"}, labels


def test_a_report_that_rolls_back_is_not_counted(app, meldpunt):
    institution, _handler = meldpunt
    before = metrics.REPORTS_SUBMITTED.labels(channel="web")._value.get()
    make_case(institution)
    db.session.rollback()
    assert metrics.REPORTS_SUBMITTED.labels(channel="web")._value.get() == before
    make_case(institution)
    db.session.commit()
    assert metrics.REPORTS_SUBMITTED.labels(channel="web")._value.get() == before + 1


# --- Logs ---------------------------------------------------------------------------


@pytest.fixture
def log_lines():
    """Every line the app logs while the test runs, formatted as production writes it."""
    stream = io.StringIO()
    handler = logs.json_handler(stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(level)


def test_a_students_report_and_follow_up_leave_nothing_personal_in_the_logs(
    app, client, auth, meldpunt, log_lines
):
    institution, handler = meldpunt
    student = {"REMOTE_ADDR": STUDENT_ADDRESS}
    receipt = client.post(
        f"/meldpunt/{institution.slug}/melden",
        data={
            "narrative": NARRATIVE,
            "anonymity": "named",
            "reporter_name": NAME,
            "email": EMAIL,
            "contact_preference": "email",
            "attachments": [(io.BytesIO(b"GEHEIM-BESTAND van het bedrijf\n"), "korf.txt")],
        },
        environ_base=student,
    )
    code = re.search(r'class="receipt-code"[^>]*>([\d ]+)<', page_text(receipt)).group(1)
    client.post("/volgen", data={"code": code}, environ_base=student)
    client.post("/volgen/melding/bericht", data={"body": MESSAGE}, environ_base=student)
    auth.login(handler)
    client.get("/behandelen/")

    lines = log_lines()
    requests = [line for line in lines if line["message"] == "request"]
    assert {line["route"] for line in requests} >= {"/meldpunt/<slug>/melden", "/volgen"}
    assert all(re.fullmatch(r"[0-9a-f]{32}", line["request_id"]) for line in requests)
    everything = json.dumps(lines)
    for secret in (
        NARRATIVE,
        "GEHEIM",
        NAME,
        EMAIL,
        code,
        code.replace(" ", ""),
        STUDENT_ADDRESS,
        institution.slug,
    ):
        assert secret not in everything, secret


def test_the_request_id_comes_back_and_a_malformed_one_is_replaced(client):
    given = "0123456789abcdef0123456789abcdef"
    assert client.get("/healthz", headers={"X-Request-ID": given}).headers["X-Request-ID"] == given
    made = client.get("/healthz", headers={"X-Request-ID": "<script>"}).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
