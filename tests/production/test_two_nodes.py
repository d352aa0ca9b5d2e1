"""Two app nodes as production runs them, sharing PostgreSQL and Redis (issue 16).

Two gunicorn processes on two ports, each started with deploy/gunicorn.conf.py in the
production configuration, behind what would be nginx (the test sends the headers it
sets). They must behave as one system: a file uploaded on one is downloaded on the other,
a session started on one works on the other and a logout on one ends it on both, and a
rate limit counts the requests of both. A scheduled job runs as cron would start it.
Then `/readyz`, `/metrics` and the JSON logs of both nodes are checked, and everything
the test started is stopped.

Needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL, default redis://127.0.0.1:6379/0);
without them it is skipped, unless STAGEPACT_REQUIRE_PRODUCTION=1 (set by `.ci/run`).
"""

from __future__ import annotations

import json
import os
import re
import secrets

import pyotp
import pytest

from tests.servers import Browser, ScratchDatabase, run_project_command, start_node

pytestmark = pytest.mark.production

REQUIRED = os.environ.get("STAGEPACT_REQUIRE_PRODUCTION") == "1"
STUDENT_ADDRESS = "203.0.113.77"
NARRATIVE = "GEHEIM-VERHAAL: bij Garage Vonk zeiden ze dat mijn naam niet bij de klanten past."
NAME = "Yusuf GEHEIMNAAM"
EMAIL = "yusuf.geheim@example.org"
EVIDENCE = b"GEHEIM-BEWIJS: de mail van Garage Vonk.\n"
PASSWORD = "een lang en sterk wachtwoord voor de behandelaar"  # noqa: S105
METRICS_TOKEN = "the-operators-prometheus-token-0123456789"  # noqa: S105


def _unavailable(reason: str):
    if REQUIRED:
        pytest.fail(f"the production smoke test cannot run: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    """Two nodes on a migrated database with one meldpunt, a handler and a mail server."""
    import redis
    from cryptography.fernet import Fernet

    from config import TestConfig
    from stagepact import create_app
    from stagepact.extensions import db
    from stagepact.models import utcnow
    from stagepact.vocab import Role
    from tests.factories import make_institution, make_user
    from tests.mailserver import SmtpServer

    server_url = os.environ.get("DATABASE_URL", "")
    if not server_url.startswith("postgresql"):
        _unavailable("DATABASE_URL does not point at PostgreSQL")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        _unavailable(f"Redis is not reachable at {redis_url}: {error}")

    scratch = tmp_path_factory.mktemp("nodes")
    database = ScratchDatabase(server_url, prefix="stagepact_nodes")
    smtp = SmtpServer()
    smtp.start()
    keys = {
        "SECRET_KEY": secrets.token_urlsafe(32),
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "RECEIPT_PEPPER": secrets.token_urlsafe(32),
    }
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PROMETHEUS_", "GUNICORN_", "STAGEPACT_"))
    }
    env.update(
        {
            **keys,
            "STAGEPACT_ENV": "production",
            "DATABASE_URL": database.url,
            "REDIS_URL": redis_url,
            "RATELIMIT_KEY_PREFIX": f"stagepact-nodes-{secrets.token_hex(4)}",
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(smtp.port),
            "PUBLIC_BASE_URL": "https://meldpunt.test",
            "TRUSTED_PROXIES": "1",  # one nginx in front
            "METRICS_TOKEN": METRICS_TOKEN,
        }
    )
    migrated = run_project_command(["alembic", "upgrade", "head"], env)
    assert migrated.returncode == 0, migrated.stderr

    app = create_app(
        TestConfig,
        {
            "SQLALCHEMY_DATABASE_URI": database.url,
            "ENCRYPTION_KEYS": [keys["ENCRYPTION_KEYS"]],
            "RECEIPT_PEPPER": keys["RECEIPT_PEPPER"],
            "SERVER_NAME": None,
        },
    )
    totp = pyotp.random_base32()
    with app.app_context():
        school = make_institution(name="Vonk College", slug="vonk-college")
        make_user(
            Role.HANDLER,
            school,
            name="Hanna Behandelaar",
            email="hanna@vonk.example",
            password=PASSWORD,
            totp_secret=totp,
            totp_enabled_at=utcnow(),
        )
        db.session.commit()
        db.session.remove()
        db.engine.dispose()

    nodes = []
    try:
        nodes.append(start_node(env, scratch, "node-a"))
        nodes.append(start_node(env, scratch, "node-b"))
        yield {"a": nodes[0], "b": nodes[1], "env": env, "smtp": smtp, "totp": totp}
    finally:
        for node in nodes:
            node.stop()
        smtp.stop()
        database.drop()
    for node in nodes:
        assert node.process.returncode is not None  # stopped


def _login(browser: Browser, totp: str) -> None:
    page = browser.get("/inloggen")
    answer = browser.post(
        "/inloggen",
        {
            "csrf_token": page.hidden("csrf_token"),
            "email": "hanna@vonk.example",
            "password": PASSWORD,
        },
    )
    assert answer.status == 302 and answer.headers["Location"].endswith("/inloggen/code"), (
        answer.status
    )
    page = browser.get("/inloggen/code")
    answer = browser.post(
        "/inloggen/code", {"csrf_token": page.hidden("csrf_token"), "code": pyotp.TOTP(totp).now()}
    )
    assert answer.status == 302 and answer.headers["Location"].endswith("/behandelen/"), (
        answer.text[:500]
    )


def test_two_nodes_behave_as_one_system(platform):
    node_a, node_b = platform["a"], platform["b"]

    # A student reports with a file on node A...
    student = Browser(node_a.url, address=STUDENT_ADDRESS)
    form = student.get("/meldpunt/vonk-college/melden")
    assert form.status == 200
    receipt = student.post(
        "/meldpunt/vonk-college/melden",
        {
            "csrf_token": form.hidden("csrf_token"),
            "submission_id": form.hidden("submission_id"),
            "narrative": NARRATIVE,
            "anonymity": "named",
            "reporter_name": NAME,
            "email": EMAIL,
            "contact_preference": "email",
        },
        files=[("attachments", "garage-vonk.txt", EVIDENCE)],
    )
    assert receipt.status == 200, receipt.text[:2000]
    code = re.search(r'class="receipt-code"[^>]*>([\d ]+)<', receipt.text).group(1)

    # ...and the session it started there works on node B.
    student.base = node_b.url
    case_page = student.get("/volgen/melding")
    assert case_page.status == 200 and "Je melding bij Vonk College" in case_page.text

    # The handler signs in on node B, acknowledges and downloads the file there.
    handler = Browser(node_b.url, address="198.51.100.20")
    _login(handler, platform["totp"])
    inbox = handler.get("/behandelen/")
    case_id = re.search(r'href="/behandelen/zaken/(\d+)"', inbox.text).group(1)
    case = handler.get(f"/behandelen/zaken/{case_id}")
    assert case.status == 200
    acknowledged = handler.post(
        f"/behandelen/zaken/{case_id}/bevestigen", {"csrf_token": case.hidden("csrf_token")}
    )
    assert acknowledged.status == 302
    file_path = re.search(rf'href="(/behandelen/zaken/{case_id}/bestanden/\d+)"', case.text).group(
        1
    )
    download = handler.get(file_path)
    assert download.status == 200 and download.body == EVIDENCE

    # The same session on node A; a logout there ends it on node B too.
    handler.base = node_a.url
    assert handler.get("/behandelen/").status == 200
    assert handler.get(file_path).body == EVIDENCE
    page = handler.get("/behandelen/")
    session_before = dict(handler.cookies)
    assert handler.post("/uitloggen", {"csrf_token": page.hidden("csrf_token")}).status == 302
    copied = Browser(node_b.url, cookies=session_before)  # the cookie as it was, elsewhere
    assert copied.get("/behandelen/").status == 302

    # A limit counts both nodes' requests: ten wrong tries of one code, then refused.
    wrong = {"code": "1234 5678 9012 3456"}
    for attempt in range(10):
        guesser = Browser(node_a.url if attempt % 2 else node_b.url, address=f"192.0.2.{attempt}")
        page = guesser.get("/volgen")
        tried = guesser.post("/volgen", {**wrong, "csrf_token": page.hidden("csrf_token")})
        assert tried.status == 422, attempt
    last = Browser(node_a.url, address="192.0.2.99")
    page = last.get("/volgen")
    assert last.post("/volgen", {**wrong, "csrf_token": page.hidden("csrf_token")}).status == 429

    # A scheduled job, as cron starts it: the handler's notice goes out.
    sent = run_project_command(["flask", "--app", "app", "stagepact", "send-mail"], platform["env"])
    assert sent.returncode == 0, sent.stderr
    assert any("hanna@vonk.example" in m["To"] for m in platform["smtp"].messages)

    # Both nodes are ready; the metrics are the operator's alone.
    for node in (node_a, node_b):
        ready = Browser(node.url).get("/readyz")
        assert ready.status == 200, ready.text
        assert json.loads(ready.text)["checks"]["jobs"]["send-mail"] == "ok"
    assert Browser(node_a.url).get("/metrics").status == 404
    exposition = Browser(node_a.url).get(
        "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    assert exposition.status == 200
    assert 'stagepact_reports_submitted_total{channel="web"} 1.0' in exposition.text
    assert 'stagepact_request_seconds_count{endpoint="student.report",method="POST"}' in (
        exposition.text
    )
    assert re.search(
        r'stagepact_job_last_success_timestamp_seconds\{job="send-mail"\} [1-9]', exposition.text
    )
    assert "stagepact_cases_open 1.0" in exposition.text

    # Every line either node wrote is JSON; none holds what the student typed or their address.
    for node in (node_a, node_b):
        output = node.output()
        lines = [json.loads(line) for line in output.splitlines() if line.strip()]
        assert any(line.get("message") == "request" and line.get("request_id") for line in lines)
        for secret in (
            NARRATIVE,
            "GEHEIM",
            NAME,
            EMAIL,
            code,
            code.replace(" ", ""),
            STUDENT_ADDRESS,
        ):
            assert secret not in output, secret
