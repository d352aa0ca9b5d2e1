"""Every staff page, in Dutch and in English, passes axe and fits a phone."""

from __future__ import annotations

import pytest

from tests.browser.journeys import staff_logs_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def escalated(live):
    """A case of the live site escalated to SBB, made the way the workflow makes it."""
    import sqlalchemy as sa

    from stagepact import workflow
    from stagepact.extensions import db
    from stagepact.models import Company, Institution, User
    from tests.factories import make_case

    with live.db():
        school = db.session.query(Institution).filter_by(slug=live.world["school"]).one()
        handler = db.session.scalars(
            sa.select(User).where(User.with_email(live.world["handler"]))
        ).one()
        company = db.session.query(Company).first()
        case = make_case(school, consent_sbb=True, company_id=company.id)[0]
        workflow.acknowledge(case, handler)
        investigation = workflow.escalate(case, handler, "Samenvatting voor SBB.", False)
        db.session.commit()
        return {
            "case": case.id,
            "investigation": investigation.id,
            "company": company.id,
            "handler": handler.id,
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
        "/organisatie/opvolging",
        "/organisatie/medewerkers/{handler}/afwezig",
    ],
}


@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize("who", list(STAFF_PAGES))
def test_staff_pages_pass_axe_and_fit_a_phone(browser, live, escalated, staff, who, language):
    """Logged in from a browser that prefers `language`; `Visit.checked` runs axe and
    asserts the language and that nothing scrolls sideways at 360 px."""
    from tests.browser.conftest import Visit

    visit = Visit(browser, live, f"staff-{who}", "phone", True, language)
    try:
        page = staff_logs_in(visit, live, staff[who])
        for path in STAFF_PAGES[who]:
            visit.go(path.format(**escalated))
        assert page.locator("html").get_attribute("lang") == language
    finally:
        visit.close()
