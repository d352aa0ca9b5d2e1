"""Every staff page, in Dutch and in English, passes axe and fits a phone."""

from __future__ import annotations

import pytest

from tests.browser.conftest import assert_accessible
from tests.browser.test_journeys import _staff_logs_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def escalated(live):
    """A case of the live site escalated to SBB, made the way the workflow makes it."""
    from stagepact import workflow
    from stagepact.extensions import db
    from stagepact.models import Company, Institution, User
    from stagepact.vocab import Role
    from tests.factories import make_case, make_user

    with live.db():
        school = db.session.query(Institution).filter_by(slug=live.world["school"]).one()
        handler = db.session.query(User).filter_by(email=live.world["handler"]).one()
        company = db.session.query(Company).first()
        case = make_case(school, consent_sbb=True, company_id=company.id)[0]
        workflow.acknowledge(case, handler)
        investigation = workflow.escalate(case, handler, "Samenvatting voor SBB.", False)
        admin = make_user(Role.INSTITUTION_ADMIN, school, email="beheer@school.example")
        db.session.commit()
        return {
            "case": case.id,
            "investigation": investigation.id,
            "company": company.id,
            "admin": admin.email,
        }


STAFF_PAGES = {
    "handler": [
        "/behandelen/",
        "/behandelen/zaken/{case}",
        "/behandelen/melding-invoeren",
        "/statistieken/",
        "/account",
    ],
    "reviewer": [
        "/sbb/",
        "/sbb/onderzoeken/{investigation}",
        "/sbb/bedrijven",
        "/sbb/bedrijven/{company}",
    ],
    "monitor": [
        "/statistieken/",
        "/statistieken/?period=year&dimension=phase&dimension2=ground",
        "/account",
    ],
    "admin": [
        "/organisatie/medewerkers",
        "/organisatie/instelling",
        "/organisatie/logboek",
        "/organisatie/medewerkers/uitnodigen",
    ],
}


@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize("who", list(STAFF_PAGES))
def test_staff_pages_pass_axe_and_fit_a_phone(browser, live, escalated, who, language):
    from tests.browser.conftest import Visit

    visit = Visit(browser, live, f"staff-{who}-{language}", "phone", True)
    try:
        email = escalated["admin"] if who == "admin" else live.world[who]
        page = _staff_logs_in(visit, live, email)
        if language == "en":
            page.get_by_role("button", name="English").click()
            assert page.locator("html").get_attribute("lang") == "en"
        for path in STAFF_PAGES[who]:
            page.goto(live.url + path.format(**escalated))
            assert page.locator("html").get_attribute("lang") == language
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{path} scrolls sideways at 360 px"
            assert_accessible(page)
            visit.checked()
    finally:
        visit.close()
