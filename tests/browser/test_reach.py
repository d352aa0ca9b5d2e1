"""Reaching every student: each language, the keyboard, 200 % zoom and a light page."""

from __future__ import annotations

import pytest

from tests.browser.conftest import CHROMIUM, assert_accessible

pytestmark = pytest.mark.browser

LANGUAGES = {"nl": "ltr", "en": "ltr", "ar": "rtl", "tr": "ltr", "pl": "ltr"}
STUDENT_PAGES = [
    "/",
    "/meldpunt/{school}",
    "/meldpunt/{school}/melden",
    "/volgen",
    "/toegankelijkheid",
    "/meldpunt/oud-testcollege",  # no handler: closed, the student is sent to the ADV
]


def _send_report(page) -> None:
    """The report form's own send button (the page has other forms: company search, language)."""
    form = page.locator("#narrative").locator("xpath=ancestor::form")
    # Until the answer has loaded, its stylesheet too: axe on a page whose CSS has not
    # arrived yet sees the skip link unstyled (and too small a target).
    with page.expect_navigation(wait_until="load"):
        form.locator("button[type=submit]:not([name])").last.click()


@pytest.fixture
def context(browser):
    made = []

    def make(**options):
        created = browser.new_context(**{"locale": "nl-NL", **options})
        made.append(created)
        return created

    yield make
    for created in made:
        created.close()


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_the_students_pages_in_each_language_pass_axe(context, live, language):
    page = context(locale=language, viewport={"width": 360, "height": 740}).new_page()
    for path in STUDENT_PAGES:
        page.goto(live.url + path.format(school=live.world["school"]))
        html = page.locator("html")
        assert html.get_attribute("lang") == language
        assert html.get_attribute("dir") == LANGUAGES[language]
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways at 360 px in {language}"
        assert_accessible(page)
        name = path.strip("/").replace("/", "-").replace("{school}", "school") or "start"
        page.screenshot(path=f"screenshots/language-{language}-{name}.png", full_page=True)
    # The form with errors: the summary and the messages beside the fields pass too.
    page.goto(live.url + f"/meldpunt/{live.world['school']}/melden")
    _send_report(page)
    assert page.locator(".error-summary").count() == 1
    assert_accessible(page)


def test_the_language_is_chosen_with_a_button_and_remembered(context, live):
    page = context(locale="nl-NL").new_page()
    page.goto(live.url + "/")
    page.get_by_role("button", name="العربية").click()
    assert page.locator("html").get_attribute("dir") == "rtl"
    page.goto(live.url + "/volgen")
    assert page.locator("html").get_attribute("lang") == "ar"


def test_keyboard_first_stop_is_the_skip_link_and_focus_is_visible(context, live):
    page = context().new_page()
    page.goto(live.url + f"/meldpunt/{live.world['school']}/melden")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.className")
    assert "skip-link" in focused
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_the_error_summary_links_to_the_fields(context, live):
    page = context(java_script_enabled=False).new_page()
    page.goto(live.url + f"/meldpunt/{live.world['school']}/melden")
    _send_report(page)
    link = page.locator(".error-summary a").first
    assert link.get_attribute("href") == "#narrative"
    link.click()
    assert page.url.endswith("#narrative")


def test_the_report_form_is_usable_at_200_percent_zoom(context, live):
    # 200 % zoom of a 1280 px window is a 640 px wide layout.
    page = context(viewport={"width": 640, "height": 450}, device_scale_factor=2).new_page()
    page.goto(live.url + f"/meldpunt/{live.world['school']}/melden")
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    page.get_by_role("textbox", name="Wat is er gebeurd?").fill("Ze wilden mij niet om mijn naam.")
    _send_report(page)
    assert page.locator(".receipt-code").count() == 1


def test_a_students_page_weighs_under_100_kb(context, live):
    page = context().new_page()
    sizes = {}
    page.on("response", lambda response: sizes.__setitem__(response.url, len(response.body())))
    for path in STUDENT_PAGES:
        sizes.clear()
        page.goto(live.url + path.format(school=live.world["school"]), wait_until="load")
        assert sum(sizes.values()) < 100 * 1024, (path, sizes)
        # Nothing from elsewhere: no fonts, scripts, images or trackers of other hosts.
        assert all(url.startswith(live.url + "/") for url in sizes), (path, list(sizes))
    assert CHROMIUM.exists()


def _tab_until(page, test: str, most: int = 150) -> None:
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate(test):
            return
    raise AssertionError(f"the keyboard never reached: {test}")


def test_a_student_reports_with_the_keyboard_alone(context, live):
    page = context(java_script_enabled=False).new_page()
    page.goto(live.url + f"/meldpunt/{live.world['school']}/melden")
    _tab_until(page, "document.activeElement.id === 'narrative'")
    page.keyboard.type("Ik werd afgewezen om mijn accent.")
    _tab_until(
        page,
        "document.activeElement.tagName === 'BUTTON' && document.activeElement.textContent.trim() === 'Melding versturen'",
    )
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator(".receipt-code").count() == 1
