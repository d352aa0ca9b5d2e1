"""The journeys against the app as production runs it (issue 11).

gunicorn serves `app:app` over TLS with a certificate made for this run, in the
production configuration (`STAGEPACT_ENV=production`: Secure cookies, HSTS, 2FA for
everyone, rate limits in Redis), on its own PostgreSQL database migrated with Alembic,
mailing to a real SMTP server. TLS ends in gunicorn, so `TRUSTED_PROXIES` is 0, as the
README's production notes say for that layout.

Every page the browser receives must come over HTTPS with `Strict-Transport-Security`,
and every cookie it holds must be Secure and HttpOnly.

These tests need PostgreSQL (`DATABASE_URL`) and Redis (`REDIS_URL`, default
redis://127.0.0.1:6379/0). Without them they are skipped, unless
`STAGEPACT_REQUIRE_TLS_JOURNEYS=1` (set by `.ci/run`) makes that a failure.
"""

from __future__ import annotations

import os
import secrets
import shutil
import ssl
import subprocess
import sys
import time
import urllib.request
from base64 import b64encode
from hashlib import sha256
from pathlib import Path

import pytest

from tests.browser import journeys
from tests.browser.conftest import (
    CHROMIUM,
    ROOT,
    SCREENSHOTS,
    VISITS,
    LiveSite,
    Visit,
    playwright_api,
    seed_world,
)
from tests.servers import ScratchDatabase, free_port

pytestmark = pytest.mark.browser

REQUIRED = os.environ.get("STAGEPACT_REQUIRE_TLS_JOURNEYS") == "1"


def _unavailable(reason: str):
    if REQUIRED:
        pytest.fail(f"the production TLS journeys cannot run: {reason}")
    pytest.skip(reason)


def _postgres_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        _unavailable("DATABASE_URL does not point at PostgreSQL")
    return url


def _redis_url() -> str:
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        _unavailable(f"Redis is not reachable at {url}: {error}")
    return url


def _spki_hash(cert_pem: bytes) -> str:
    """What Chromium's --ignore-certificate-errors-spki-list takes: base64(sha256(SPKI))."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    public_key = x509.load_pem_x509_certificate(cert_pem).public_key()
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return b64encode(sha256(spki).digest()).decode()


def _wait_until_serving(url: str, ca_file: Path, server: subprocess.Popen, log: Path):
    context = ssl.create_default_context(cafile=str(ca_file))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"gunicorn stopped at start:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, context=context, timeout=5) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"gunicorn did not answer over TLS within 60 s:\n{log.read_text()[-3000:]}")


def _check_tls_page(visit: Visit) -> None:
    """Over TLS, as production serves it: HTTPS, HSTS on every page, Secure cookies only."""
    assert visit.page.url.startswith("https://"), visit.page.url
    for response in visit.documents:
        assert response.url.startswith("https://"), response.url
        hsts = response.headers.get("strict-transport-security", "")
        assert "max-age=31536000" in hsts, f"no HSTS on {response.url}"
    for cookie in visit.context.cookies():
        assert cookie["secure"] and cookie["httpOnly"], f"cookie {cookie['name']}: {cookie}"


@pytest.fixture(scope="module")
def tls_site(tmp_path_factory):
    """gunicorn over TLS in the production configuration, with its certificate."""
    import trustme
    from cryptography.fernet import Fernet

    from config import TestConfig
    from stagepact import create_app
    from stagepact.extensions import db
    from tests.mailserver import SmtpServer

    database = ScratchDatabase(_postgres_url(), prefix="stagepact_tls")
    redis_url = _redis_url()
    scratch = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    certificate = ca.issue_cert("localhost", "127.0.0.1")
    cert_file, key_file, ca_file = (scratch / n for n in ("cert.pem", "key.pem", "ca.pem"))
    certificate.cert_chain_pems[0].write_to_path(str(cert_file))
    certificate.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))

    smtp = SmtpServer()
    smtp.start()
    port = free_port()
    url = f"https://localhost:{port}"
    secrets_for_run = {
        "SECRET_KEY": secrets.token_urlsafe(32),
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "RECEIPT_PEPPER": secrets.token_urlsafe(32),
    }
    env = {
        **os.environ,
        **secrets_for_run,
        "STAGEPACT_ENV": "production",
        "DATABASE_URL": database.url,
        "REDIS_URL": redis_url,
        "RATELIMIT_KEY_PREFIX": f"stagepact-tls-{secrets.token_hex(4)}",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp.port),
        "PUBLIC_BASE_URL": url,
        "TRUSTED_PROXIES": "0",  # TLS ends in gunicorn: no proxy in front
        "ATTACHMENT_DIR": str(scratch / "files"),
    }
    bin_dir = Path(sys.executable).parent
    subprocess.run(  # noqa: S603 (the project's own Alembic)
        [str(bin_dir / "alembic"), "upgrade", "head"], cwd=ROOT, env=env, check=True
    )

    # The test's own view of the same database and keys: to seed it and to read what the
    # served app stored (the TOTP secrets of the staff it logs in).
    app = create_app(
        TestConfig,
        {
            "SQLALCHEMY_DATABASE_URI": database.url,
            "SERVER_NAME": None,
            "ENCRYPTION_KEYS": [secrets_for_run["ENCRYPTION_KEYS"]],
            "RECEIPT_PEPPER": secrets_for_run["RECEIPT_PEPPER"],
            "SECRET_KEY": secrets_for_run["SECRET_KEY"],
        },
    )
    site = LiveSite(url=url, app=app, check_page=_check_tls_page)
    with app.app_context():
        site.world = seed_world()
        db.session.commit()

    log = scratch / "gunicorn.log"
    with log.open("w") as out:
        server = subprocess.Popen(  # noqa: S603 (the project's own gunicorn)
            [
                str(bin_dir / "gunicorn"),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--certfile",
                str(cert_file),
                "--keyfile",
                str(key_file),
                "app:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_serving(url + "/", ca_file, server, log)
        site.spki = _spki_hash(certificate.cert_chain_pems[0].bytes())
        yield site
    finally:
        server.terminate()
        server.wait(timeout=30)
        smtp.stop()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        database.drop()
        SCREENSHOTS.mkdir(exist_ok=True)  # CI keeps the folder: the server's log goes with it
        shutil.copy(log, SCREENSHOTS / "production-tls-gunicorn.log")


@pytest.fixture(scope="module")
def live(tls_site):
    return tls_site


@pytest.fixture(scope="module")
def browser(tls_site):
    """Chromium that trusts this run's certificate (and nothing else that would fail)."""
    if not CHROMIUM.exists():
        _unavailable("Debian's Chromium is not installed")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                f"--ignore-certificate-errors-spki-list={tls_site.spki}",
            ],
        )
        yield launched
        launched.close()


@pytest.fixture(params=["desktop"])
def visit_factory(request, browser, live):
    viewport, javascript, language = VISITS[request.param]
    made = []

    def make(name: str, staff: bool = False) -> Visit:
        visit = Visit(browser, live, f"tls-{name}", viewport, javascript, language)
        made.append(visit)
        return visit

    yield make
    for visit in made:
        visit.close()


def test_over_tls_a_student_reports_and_the_handler_acknowledges_and_asks(
    visit_factory, live, staff
):
    journeys.student_reports_handler_asks_student_answers(visit_factory, live, staff)


def test_over_tls_a_report_with_a_file_reaches_sbb_which_decides(
    visit_factory, live, staff, tmp_path
):
    journeys.named_report_goes_to_adv_and_sbb_and_student_reads_outcome(
        visit_factory, live, staff, tmp_path
    )


def test_over_tls_a_monitor_exports_a_table(visit_factory, live, staff):
    journeys.monitor_chooses_a_table_and_exports_it(visit_factory, live, staff)
