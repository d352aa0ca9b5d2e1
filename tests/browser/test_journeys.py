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
    page.get_by_label("Naam van je school of de plaats", exact=True).fill("Groningen")
    page.get_by_role("button", name="Zoeken").click()
    visit.checked()
    page.get_by_role("link", name="Noorderpoort Test").click()
    visit.checked()
    page.get_by_role("link", name="Melding maken").first.click()
    visit.checked()
    page.get_by_role("textbox", name="Wat is er gebeurd?").fill(NARRATIVE)
    page.get_by_label("Ja, anoniem. School weet dan niet wie ik ben.", exact=True).check()
    page.get_by_role("button", name="Melding versturen").click()
    visit.checked()
    code = page.locator(".receipt-code").inner_text()
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", code)
    return code


def _open_with_code(visit, code: str):
    page = visit.go("/volgen")
    page.get_by_label("Je ontvangstcode", exact=True).fill(code)
    page.get_by_role("button", name="Melding openen").click()
    return visit.checked()


def _handler_logs_in(visit, live):
    return _staff_logs_in(visit, live, live.world["handler"])


def _staff_logs_in(visit, live, email: str):
    """Password, then the authenticator app: set up at the first login, a code afterwards."""
    from stagepact.models import User

    page = visit.go("/inloggen")
    page.get_by_label("E-mailadres", exact=True).fill(email)
    page.get_by_label("Wachtwoord", exact=True).fill(live.world["password"])
    page.get_by_role("button", name="Inloggen").click()
    visit.checked()
    with live.db():
        from stagepact.extensions import db

        user = db.session.scalar(sa.select(User).where(User.email == email))
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


EVIDENCE = b"Van: HR\nOnderwerp: afwijzing\n\nWij zoeken iemand die beter bij ons team past.\n"


def test_a_named_report_goes_to_the_adv_and_to_sbb_and_the_student_reads_the_outcome(
    visit_factory, live, tmp_path
):
    # The student reports with their name, a file and consent for the ADV and SBB.
    evidence = tmp_path / "mail-van-het-bedrijf.txt"
    evidence.write_bytes(EVIDENCE)
    student = visit_factory("student-named")
    page = student.go(f"/meldpunt/{live.world['school']}/melden")
    page.get_by_role("textbox", name="Wat is er gebeurd?").fill(NARRATIVE)
    page.get_by_label("Nee, met mijn naam. Dan kan school mij beter helpen.", exact=True).check()
    page.get_by_label("Je naam", exact=True).fill("Samira El Idrissi")
    page.get_by_role("textbox", name="Je e-mailadres").fill("samira@student.example")
    page.get_by_label("Het meldpunt mag contact met mij opnemen.", exact=True).check()
    page.get_by_label(
        "Het meldpunt mag mijn melding doorsturen naar het antidiscriminatiebureau (ADV)."
    ).check()
    page.get_by_label(
        "Het meldpunt mag mijn melding zonder mijn naam doorzetten naar SBB.", exact=True
    ).check()
    page.locator("input[type=file]").set_input_files(str(evidence))
    page.get_by_role("button", name="Melding versturen").click()
    student.checked()
    code = page.locator(".receipt-code").inner_text()

    # The handler follows it up, refers it to the ADV and, once the ADV closed it, to SBB.
    handler = visit_factory("handler-chain")
    desk = _handler_logs_in(handler, live)
    desk.get_by_role("link", name=re.compile(r"\d{4}-\d{4}")).first.click()
    handler.checked()
    for button in ("Ontvangst bevestigen", "Opvolging starten"):
        desk.get_by_role("button", name=button).click()
        handler.checked()
    desk.get_by_role("textbox", name="Samenvatting voor het ADV").fill(
        "Een student werd bij een sollicitatie afgewezen om haar hoofddoek."
    )
    desk.get_by_label("mail-van-het-bedrijf.txt").first.check()  # the referral form comes first
    desk.get_by_role("button", name="Doorverwijzen en mailen").click()
    handler.checked()
    desk.get_by_label("Antwoord van het ADV", exact=True).select_option(
        label="Het ADV heeft de melding afgesloten"
    )
    desk.get_by_role("textbox", name="Wat liet het ADV weten?").fill(
        "Het ADV heeft de student geadviseerd en sluit af."
    )
    desk.get_by_role("button", name="Antwoord vastleggen").click()
    handler.checked()
    desk.get_by_label("Zoek op naam, plaats of KvK-nummer", exact=True).fill("Korf")
    desk.get_by_role("button", name="Zoeken").first.click()
    handler.checked()
    desk.get_by_role("button", name="Koppelen").click()
    handler.checked()
    desk.get_by_role("textbox", name="Samenvatting voor SBB, zonder namen van de student").fill(
        "Een student werd bij de sollicitatie afgewezen om haar hoofddoek."
    )
    desk.get_by_role("button", name="Doorzetten naar SBB").click()
    handler.checked()

    # SBB investigates and decides a measure on the company's recognition.
    sbb = visit_factory("sbb")
    queue = _staff_logs_in(sbb, live, live.world["reviewer"])
    queue.get_by_role("link", name=re.compile(r"SBB-\d{5}")).first.click()
    sbb.checked()
    assert NARRATIVE not in queue.content()  # SBB sees what was shared, not the story
    queue.get_by_role("button", name="Onderzoek starten").click()
    sbb.checked()
    queue.get_by_label("Besluit", exact=True).select_option(
        label="Verbeterafspraken met voorwaarden"
    )
    queue.get_by_role("textbox", name="Onderbouwing").fill("Gesprekken bevestigen de melding.")
    queue.get_by_role("textbox", name="Voorwaarden (bij verbeterafspraken)").fill(
        "Een gedragscode en training voor praktijkopleiders."
    )
    queue.get_by_label("Uiterlijk voldaan op").fill("2099-01-31")
    queue.get_by_role("button", name="Besluit vastleggen").click()
    sbb.checked()
    assert "Erkend onder voorwaarden" in queue.content()

    # The handler closes the case with the student.
    desk.reload()
    handler.checked()
    desk.get_by_label("Uitkomst", exact=True).select_option(label="Maatregel door SBB")
    desk.get_by_role("textbox", name="Afsluitend bericht aan de student").fill(
        "SBB heeft afspraken gemaakt met het bedrijf. Dank je wel voor je melding."
    )
    desk.get_by_role("button", name="Melding afsluiten").click()
    handler.checked()

    # The student reads the outcome in their own words.
    page = _open_with_code(student, code)
    content = page.content()
    assert "Je melding is afgesloten" in content
    assert "SBB heeft verbeterafspraken gemaakt met het leerbedrijf." in content
    assert "Dank je wel voor je melding." in content


def test_a_monitor_chooses_a_table_and_exports_it(visit_factory, live):
    monitor = visit_factory("monitor")
    page = _staff_logs_in(monitor, live, live.world["monitor"])
    page.get_by_label("Periode", exact=True).select_option(label="Kalenderjaar")
    page.get_by_label("Verdeeld naar", exact=True).select_option(label="Fase")
    page.get_by_role("button", name="Tabel maken").click()
    monitor.checked()
    assert page.locator("table.stats").count() == 1
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV").click()
    assert download.value.suggested_filename.startswith("meldingen_phase_")
