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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

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
    # What this site must show on every page beyond the common checks (a Visit).
    check_page: Callable[[Visit], None] | None = None

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
        site.world = seed_world()
        db.session.commit()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield site
    server.shutdown()
    with app.app_context():
        db.session.remove()
        db.drop_all()


def seed_world() -> dict:
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
    _published_year(adv)
    return {
        "school": school.slug,
        "handler": handler.email,
        "reviewer": reviewer.email,
        "monitor": monitor.email,
        "password": PASSWORD,
        "company": company.name,
    }


def _published_year(adv) -> None:
    """Reports of 2025 at another school, published the way the nightly job does, so that a
    monitor has a closed year to ask for (the journeys' own reports are of today)."""
    from datetime import datetime

    from stagepact import statistics
    from stagepact.extensions import db
    from tests.factories import make_case, make_institution

    school = make_institution(name="Oud Testcollege", slug="oud-testcollege", adv=adv)
    for number in range(40):
        case, _code = make_case(school, phase=("application", "internship")[number % 2])
        case.submitted_at = datetime(2025, 1 + number % 12, 3 + number % 20, 10, 0)
    db.session.flush()
    statistics.publish()


def pytest_configure(config):
    """A run of the browser tests (`-m browser`) writes its own set of screenshots: they are
    cleared once, by the controller, before any xdist worker starts."""
    marks = config.option.markexpr or ""
    browser_run = "browser" in marks and "not browser" not in marks
    if browser_run and not hasattr(config, "workerinput"):
        shutil.rmtree(SCREENSHOTS, ignore_errors=True)


@pytest.fixture
def staff(live):
    """Fresh staff accounts for one test: 2FA is set up at their first login, and their
    language is the browser's until they choose, independent of the tests before."""
    from stagepact.extensions import db
    from stagepact.models import Institution
    from stagepact.vocab import Role
    from tests.factories import make_user

    with live.db():
        school = db.session.query(Institution).filter_by(slug=live.world["school"]).one()
        made = {
            "handler": make_user(Role.HANDLER, school, name="Anouk de Vries"),
            "reviewer": make_user(Role.SBB_REVIEWER, name="Sanne Mulder"),
            "monitor": make_user(Role.MONITOR, name="Tim Bakker"),
            "admin": make_user(Role.INSTITUTION_ADMIN, school, name="Bram Visser"),
        }
        db.session.commit()
        return {who: user.email for who, user in made.items()}


@pytest.fixture(scope="session")
def browser():
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


class Visit:
    """One browser (viewport, JavaScript on or off, language) that checks every page it shows.

    `t` gives an interface text in the visit's language, so that a journey finds its
    fields and buttons by their names in every language.
    """

    def __init__(
        self,
        browser,
        live: LiveSite,
        name: str,
        viewport: str,
        javascript: bool,
        language: str = "nl",
    ):
        self.live = live
        self.name = name
        self.language = language
        self.viewport = viewport if javascript else f"{viewport}-nojs"
        self.context = browser.new_context(
            viewport=VIEWPORTS[viewport], java_script_enabled=javascript, locale=language
        )
        self.page = self.context.new_page()
        # Every page (document) the browser received, with its headers, since the last check.
        self.documents = []
        self.page.on(
            "response",
            lambda response: (
                self.documents.append(response)
                if response.request.resource_type == "document"
                else None
            ),
        )
        self.step = 0
        self.javascript = javascript
        self.phone = viewport == "phone"
        self.t = translator(language)

    def go(self, path: str):
        self.page.goto(self.live.url + path)
        return self.checked()

    def checked(self):
        """The page as it is: in the visit's language, no sideways scrolling on a phone,
        axe-core, and a screenshot."""
        self.step += 1
        page = self.page
        page.wait_for_load_state("load")  # a click returns once the next page began to load
        assert page.locator("html").get_attribute("lang") == self.language, page.url
        if self.phone:
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{page.url} scrolls sideways at 360 px"
        title, path = page.title().split(" · ")[0], urlsplit(page.url).path
        label = _slug(title) or _slug(path) or "start"  # an Arabic title has no ASCII slug
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(
            path=str(
                SCREENSHOTS
                / f"{self.name}-{self.language}-{self.viewport}-{self.step:02d}-{label}.png"
            ),
            full_page=True,
        )
        if self.javascript:  # axe is a script: it runs where the page allows scripts
            assert_accessible(page)
        if self.live.check_page is not None:
            self.live.check_page(self)
        self.documents.clear()
        return page

    def shows(self, text: str) -> bool:
        """Whether the page's visible text holds `text` (as a reader sees it, unescaped)."""
        return text in self.page.locator("body").inner_text()

    def close(self):
        self.context.close()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]


def translator(language: str):
    """gettext for one language from the compiled catalogues (`make install-dev`)."""
    if language == "nl":  # the msgids are the Dutch texts
        return lambda text: text
    from babel.support import Translations

    catalogue = Translations.load(str(ROOT / "translations"), [language])
    assert isinstance(catalogue, Translations), f"no compiled catalogue for {language}"

    def translate(text: str) -> str:
        # A compiled catalogue holds only translated messages: a missing one would fall
        # back to the Dutch text, which the page would show too, and the journey would pass.
        assert text in catalogue._catalog, f"not translated to {language}: {text}"
        return catalogue.gettext(text)

    return translate


def assert_accessible(page) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_TAGS}})
    assert results.violations_count == 0, results.generate_report()


# Every journey in Dutch at desktop width, at 360 px and without JavaScript; and in each
# other language once: English at desktop width, the student's other languages on a phone.
# Staff pages exist in Dutch and English: the staff of a journey in Arabic, Turkish or
# Polish work in English.
VISITS = {
    "desktop": ("desktop", True, "nl"),
    "phone-360": ("phone", True, "nl"),
    "no-javascript": ("desktop", False, "nl"),
    "en-desktop": ("desktop", True, "en"),
    "ar-phone-360": ("phone", True, "ar"),
    "tr-phone-360": ("phone", True, "tr"),
    "pl-phone-360": ("phone", True, "pl"),
}
STAFF_LANGUAGES = ("nl", "en")


@pytest.fixture(params=list(VISITS.values()), ids=list(VISITS))
def visit_factory(request, browser, live):
    viewport, javascript, language = request.param
    made = []

    def make(name: str, staff: bool = False) -> Visit:
        spoken = language if not staff or language in STAFF_LANGUAGES else "en"
        visit = Visit(browser, live, name, viewport, javascript, spoken)
        made.append(visit)
        return visit

    yield make
    for visit in made:
        visit.close()
