"""A real server on 127.0.0.1 and Debian's Chromium, driven by Playwright.

The app runs as in production as far as a test can: CSRF on, 2FA enforced,
its own SQLite file, a threaded WSGI server. Every page a journey visits is
checked with axe-core (WCAG 2.0, 2.1 and 2.2, A and AA) and photographed at
desktop and phone width into `screenshots/`, which CI keeps.
"""

from __future__ import annotations

import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "screenshots"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 360, "height": 740}}

playwright_api = pytest.importorskip("playwright.sync_api")
if not CHROMIUM.exists():  # .ci/run installs it with apt
    pytest.skip("Debian's Chromium is not installed at /usr/bin/chromium", allow_module_level=True)


@dataclass
class LiveSite:
    url: str
    app: object
    world: dict = field(default_factory=dict)

    def db(self):
        """An app context of the served app, to read what the site stored."""
        return self.app.app_context()


@pytest.fixture(scope="session")
def live(tmp_path_factory):
    from werkzeug.serving import make_server

    from config import TestConfig
    from stagepact import create_app
    from stagepact.extensions import db

    scratch = tmp_path_factory.mktemp("live")
    app = create_app(
        TestConfig,
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{scratch / 'site.sqlite'}",
            "ATTACHMENT_DIR": str(scratch / "files"),
            "WTF_CSRF_ENABLED": True,
            "TWO_FACTOR_ENFORCED": True,
            "SERVER_NAME": None,
            "TESTING": False,
        },
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["PUBLIC_BASE_URL"] = url
    site = LiveSite(url=url, app=app)
    with app.app_context():
        db.create_all()
        site.world = _seed()
        db.session.commit()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield site
    server.shutdown()
    with app.app_context():
        db.session.remove()
        db.drop_all()


def _seed() -> dict:
    from stagepact.vocab import Role
    from tests.factories import PASSWORD, make_adv, make_company, make_institution, make_user

    adv = make_adv(name="Discriminatie Meldpunt Noord", email="adv@noord.example")
    school = make_institution(
        name="Noorderpoort Test", slug="noorderpoort", city="Groningen", adv=adv
    )
    handler = make_user(Role.HANDLER, school, name="Anouk de Vries", email="anouk@school.example")
    reviewer = make_user(Role.SBB_REVIEWER, name="Sanne Mulder", email="sanne@sbb.example")
    monitor = make_user(Role.MONITOR, name="Tim Bakker", email="tim@monitor.example")
    company = make_company(name="Bakkerij De Korf", city="Groningen", kvk="12345678")
    return {
        "school": school.slug,
        "handler": handler.email,
        "reviewer": reviewer.email,
        "monitor": monitor.email,
        "password": PASSWORD,
        "company": company.name,
    }


@pytest.fixture(scope="session", autouse=True)
def fresh_screenshots():
    """Each run writes its own set of screenshots."""
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir()


@pytest.fixture(scope="session")
def browser():
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


class Visit:
    """One browser (viewport, JavaScript on or off) that checks every page it shows."""

    def __init__(self, browser, live: LiveSite, name: str, viewport: str, javascript: bool):
        self.live = live
        self.name = name
        self.viewport = viewport if javascript else f"{viewport}-nojs"
        self.context = browser.new_context(
            viewport=VIEWPORTS[viewport], java_script_enabled=javascript, locale="nl-NL"
        )
        self.page = self.context.new_page()
        self.step = 0
        self.javascript = javascript

    def go(self, path: str):
        self.page.goto(self.live.url + path)
        return self.checked()

    def checked(self):
        """axe-core on the page as it is, and a screenshot of it."""
        self.step += 1
        title = self.page.title().split(" · ")[0] or self.page.url.rsplit("/", 1)[-1]
        label = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40]
        SCREENSHOTS.mkdir(exist_ok=True)
        self.page.screenshot(
            path=str(SCREENSHOTS / f"{self.name}-{self.viewport}-{self.step:02d}-{label}.png"),
            full_page=True,
        )
        if self.javascript:  # axe is a script: it runs where the page allows scripts
            assert_accessible(self.page)
        return self.page

    def close(self):
        self.context.close()


def assert_accessible(page) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_TAGS}})
    assert results.violations_count == 0, results.generate_report()


@pytest.fixture(
    params=[("desktop", True), ("phone", True), ("desktop", False)],
    ids=["desktop", "phone-360", "no-javascript"],
)
def visit_factory(request, browser, live):
    viewport, javascript = request.param
    made = []

    def make(name: str) -> Visit:
        visit = Visit(browser, live, name, viewport, javascript)
        made.append(visit)
        return visit

    yield make
    for visit in made:
        visit.close()
