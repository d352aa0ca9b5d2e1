"""A reset link from the mail works in a real browser, with and without JavaScript, and its
token never reaches the server in a URL: not in werkzeug's access log, not in a Referer."""

from __future__ import annotations

import logging
import re

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.browser

NEW_PASSWORD = "zilveren-kanaalboot-regen-31"


def _reset_link(live, email: str) -> str:
    from stagepact import outbox
    from stagepact.extensions import db
    from stagepact.models import OutboxMail

    with live.db():
        outbox.compose_pending()  # what send-mail does first
        body = (
            db.session.scalars(
                sa.select(OutboxMail)
                .where(OutboxMail.purpose == "account_reset")
                .order_by(OutboxMail.id.desc())
            )
            .first()
            .body
        )
    return re.search(r"https?://\S+", body).group(0)


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_a_reset_link_from_the_mail_sets_a_new_password(browser, live, staff, javascript, caplog):
    from tests.browser.conftest import Visit

    caplog.set_level(logging.INFO)
    visit = Visit(browser, live, "reset-link", "desktop", javascript)
    referers = []
    visit.page.on("request", lambda request: referers.append(request.headers.get("referer")))
    try:
        page = visit.go("/wachtwoord-vergeten")
        page.get_by_label("E-mailadres", exact=True).fill(staff["handler"])
        page.get_by_role("button", name="Stuur de link").click()
        visit.checked()

        link = _reset_link(live, staff["handler"])
        token = link.split("#", 1)[1]
        page.goto(link)
        visit.checked()
        field = page.get_by_label("Code uit de mail", exact=True)
        if javascript:
            assert field.input_value() == token  # filled in from the fragment
            assert "#" not in page.url  # and taken out of the address bar
        else:
            assert field.input_value() == ""
            field.fill(token)  # pasted from the mail
        page.get_by_label("Nieuw wachtwoord", exact=True).fill(NEW_PASSWORD)
        page.get_by_label("Herhaal het wachtwoord", exact=True).fill(NEW_PASSWORD)
        page.get_by_role("button", name="Wachtwoord opslaan").click()
        visit.checked()
        assert visit.shows("Je wachtwoord is ingesteld")
    finally:
        visit.close()

    access_lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any("/wachtwoord-instellen" in line for line in access_lines)
    assert token not in caplog.text
    assert not any(token in (referer or "") for referer in referers)
