"""Journeys end to end in Chromium: each at desktop width, at 360 px, and without JavaScript."""

from __future__ import annotations

import re
import time
from datetime import datetime

import pyotp
import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.browser

NARRATIVE = "Bij het sollicitatiegesprek zei de eigenaar dat klanten geen hoofddoek willen zien."
QUESTION = "Weet je nog wanneer het gesprek was, en wie er verder bij was?"
ANSWER = "Het was op dinsdag 3 maart, alleen de eigenaar was erbij."


def _report_anonymously(visit) -> str:
    """A student finds their school and reports without a name; returns the receipt code."""
    page = visit.go("/")
    page.get_by_label("Naam van je school of de plaats").fill("Groningen")
    page.get_by_role("button", name="Zoeken").click()
    visit.checked()
    page.get_by_role("link", name="Noorderpoort Test").click()
    visit.checked()
    page.get_by_role("link", name="Melding maken").first.click()
    visit.checked()
    page.get_by_role("textbox", name="Wat is er gebeurd?").fill(NARRATIVE)
    page.get_by_label("Ja, anoniem. School weet dan niet wie ik ben.").check()
    page.get_by_role("button", name="Melding versturen").click()
    visit.checked()
    code = page.locator(".receipt-code").inner_text()
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", code)
    return code


def _open_with_code(visit, code: str):
    page = visit.go("/volgen")
    page.get_by_label("Je ontvangstcode").fill(code)
    page.get_by_role("button", name="Melding openen").click()
    return visit.checked()


def _handler_logs_in(visit, live):
    """Password, then the authenticator app: set up at the first login, a code afterwards."""
    from stagepact.models import User

    page = visit.go("/inloggen")
    page.get_by_label("E-mailadres").fill(live.world["handler"])
    page.get_by_label("Wachtwoord").fill(live.world["password"])
    page.get_by_role("button", name="Inloggen").click()
    visit.checked()
    with live.db():
        from stagepact.extensions import db

        user = db.session.scalar(sa.select(User).where(User.email == live.world["handler"]))
        secret, enrolled = user.totp_secret, user.totp_enabled_at is not None
        last_step = user.totp_last_step
    totp = pyotp.TOTP(secret)
    # A code works once: after an earlier login in this time step, take the next step's
    # code (accepted as clock drift), or wait for the clock when that one was used too.
    wanted = max(totp.timecode(datetime.now()), -1 if last_step is None else last_step + 1)
    while wanted > totp.timecode(datetime.now()) + 1:
        time.sleep(1)
    code = totp.generate_otp(wanted)
    page.get_by_role("textbox", name="Code").fill(code)
    page.get_by_role("button", name="Inloggen" if enrolled else "Instellen en inloggen").click()
    visit.checked()
    if not enrolled:
        page.get_by_role("link", name="Ik heb ze bewaard, verder").click()
        visit.checked()
    return page


def test_a_student_reports_the_handler_asks_and_the_student_answers(visit_factory, live):
    student = visit_factory("student")
    code = _report_anonymously(student)
    page = _open_with_code(student, code)
    assert "Je melding is binnen" in page.content()

    handler = visit_factory("handler")
    desk = _handler_logs_in(handler, live)
    desk.get_by_role("link", name=re.compile(r"\d{4}-\d{4}")).first.click()
    handler.checked()
    assert NARRATIVE in desk.content()
    desk.get_by_role("button", name="Ontvangst bevestigen").click()
    handler.checked()
    desk.get_by_role("textbox", name="Bericht aan de student", exact=True).fill(QUESTION)
    desk.get_by_role("button", name="Bericht versturen").click()
    handler.checked()

    page = _open_with_code(student, code)
    assert QUESTION in page.content()
    page.get_by_role("textbox", name="Je bericht", exact=True).fill(ANSWER)
    page.get_by_role("button", name="Bericht versturen").click()
    student.checked()
    assert "Je bericht is verstuurd" in page.content()

    desk.reload()
    handler.checked()
    assert ANSWER in desk.content()
