"""The journeys themselves, run by `test_journeys` against the development server in every
language and width, and by `test_production_tls` against gunicorn behind TLS in the
production configuration.

Fields and buttons are found by their names in the visit's language (`visit.t`), so every
journey also proves that what a student or a staff member reads is translated.
"""

from __future__ import annotations

import re
import time
from datetime import datetime

import pyotp
import sqlalchemy as sa

NARRATIVE = "Bij het sollicitatiegesprek zei de eigenaar dat klanten geen hoofddoek willen zien."
QUESTION = "Weet je nog wanneer het gesprek was, en wie er verder bij was?"
ANSWER = "Het was op dinsdag 3 maart, alleen de eigenaar was erbij."
CASE_LINK = re.compile(r"\d{4}-[2-9A-Z]{6}")  # a case number: the year and a random tail


def report_anonymously(visit) -> str:
    """A student finds their school and reports without a name; returns the receipt code."""
    t = visit.t
    page = visit.go("/")
    page.get_by_label(t("Naam van je school of de plaats"), exact=True).fill("Groningen")
    page.get_by_role("button", name=t("Zoeken"), exact=True).click()
    visit.checked()
    page.get_by_role("link", name="Noorderpoort Test").click()
    visit.checked()
    page.get_by_role("link", name=t("Melding maken"), exact=True).first.click()
    visit.checked()
    page.get_by_role("textbox", name=t("Wat is er gebeurd?"), exact=True).fill(NARRATIVE)
    page.get_by_label(t("Ja, anoniem. School weet dan niet wie ik ben."), exact=True).check()
    page.get_by_role("button", name=t("Melding versturen"), exact=True).click()
    visit.checked()
    code = page.locator(".receipt-code").inner_text()
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", code)
    return code


def open_with_code(visit, code: str):
    t = visit.t
    page = visit.go("/volgen")
    page.get_by_label(t("Je ontvangstcode"), exact=True).fill(code)
    page.get_by_role("button", name=t("Melding openen"), exact=True).click()
    return visit.checked()


def staff_logs_in(visit, live, email: str):
    """Password, then the authenticator app: set up at the first login, a code afterwards."""
    from stagepact.models import User

    t = visit.t
    page = visit.go("/inloggen")
    page.get_by_label(t("E-mailadres"), exact=True).fill(email)
    page.get_by_label(t("Wachtwoord"), exact=True).fill(live.world["password"])
    page.get_by_role("button", name=t("Inloggen"), exact=True).click()
    visit.checked()
    assert page.locator("input[name=code]").count() == 1, (
        f"the password was not taken: {page.title()}"
    )
    with live.db():
        from stagepact.extensions import db

        user = db.session.scalar(sa.select(User).where(User.with_email(email)))
        secret, enrolled = user.totp_secret, user.totp_enabled_at is not None
        last_step = user.totp_last_step
    totp = pyotp.TOTP(secret)
    # A code works once: after an earlier login in this time step, take the next step's
    # code (accepted as clock drift), or wait for the clock when that one was used too.
    wanted = max(totp.timecode(datetime.now()), -1 if last_step is None else last_step + 1)
    while wanted > totp.timecode(datetime.now()) + 1:
        time.sleep(1)
    page.get_by_role("textbox", name=t("Code"), exact=True).fill(totp.generate_otp(wanted))
    submit = t("Inloggen") if enrolled else t("Instellen en inloggen")
    page.get_by_role("button", name=submit, exact=True).click()
    visit.checked()
    if not enrolled:
        page.get_by_role("link", name=t("Ik heb ze bewaard, verder"), exact=True).click()
        visit.checked()
    return page


def logs_out(visit):
    visit.page.get_by_role("button", name=visit.t("Uitloggen"), exact=True).click()
    return visit.checked()


def student_reports_handler_asks_student_answers(visit_factory, live, staff):
    """A report without a name, the code coming back, the handler's 2FA login,
    acknowledgement and question, the student's answer; the handler logs in again."""
    student = visit_factory("student")
    code = report_anonymously(student)
    page = open_with_code(student, code)
    assert student.shows(student.t("Je melding is binnen. Nog niemand heeft hem bekeken."))

    handler = visit_factory("handler", staff=True)
    t = handler.t
    desk = staff_logs_in(handler, live, staff["handler"])
    desk.get_by_role("link", name=CASE_LINK).first.click()
    handler.checked()
    assert handler.shows(NARRATIVE)
    desk.get_by_role("button", name=t("Ontvangst bevestigen"), exact=True).click()
    handler.checked()
    desk.get_by_role("textbox", name=t("Bericht aan de student"), exact=True).fill(QUESTION)
    desk.get_by_role("button", name=t("Bericht versturen"), exact=True).click()
    handler.checked()

    page = open_with_code(student, code)
    assert student.shows(QUESTION)
    page.get_by_role("textbox", name=student.t("Je bericht"), exact=True).fill(ANSWER)
    page.get_by_role("button", name=student.t("Bericht versturen"), exact=True).click()
    student.checked()
    assert student.shows(student.t("Je bericht is verstuurd naar het meldpunt."))

    desk.reload()
    handler.checked()
    assert handler.shows(ANSWER)

    # Logged out and in again, the handler gives a code from the app they set up.
    logs_out(handler)
    staff_logs_in(handler, live, staff["handler"])
    assert handler.page.get_by_role("link", name=CASE_LINK).count() >= 1


EVIDENCE = b"Van: HR\nOnderwerp: afwijzing\n\nWij zoeken iemand die beter bij ons team past.\n"


def named_report_goes_to_adv_and_sbb_and_student_reads_outcome(
    visit_factory, live, staff, tmp_path
):
    """A named report with a file, referred to the ADV, escalated to SBB, SBB's measure,
    closed, and the outcome read by the student."""
    # The student reports with their name, a file and consent for the ADV and SBB.
    evidence = tmp_path / "mail-van-het-bedrijf.txt"
    evidence.write_bytes(EVIDENCE)
    student = visit_factory("student-named")
    s = student.t
    page = student.go(f"/meldpunt/{live.world['school']}/melden")
    page.get_by_role("textbox", name=s("Wat is er gebeurd?"), exact=True).fill(NARRATIVE)
    page.get_by_label(s("Nee, met mijn naam. Dan kan school mij beter helpen."), exact=True).check()
    page.get_by_label(s("Je naam"), exact=True).fill("Samira El Idrissi")
    page.get_by_role("textbox", name=s("Je e-mailadres")).fill("samira@student.example")
    page.get_by_label(s("Het meldpunt mag contact met mij opnemen."), exact=True).check()
    page.get_by_label(
        s("Het meldpunt mag mijn melding doorsturen naar het antidiscriminatiebureau (ADV)."),
        exact=True,
    ).check()
    page.get_by_label(
        s("Het meldpunt mag mijn melding zonder mijn naam doorzetten naar SBB."), exact=True
    ).check()
    page.locator("input[type=file]").set_input_files(str(evidence))
    page.get_by_role("button", name=s("Melding versturen"), exact=True).click()
    student.checked()
    code = page.locator(".receipt-code").inner_text()

    # The handler follows it up, refers it to the ADV and, once the ADV closed it, to SBB.
    handler = visit_factory("handler-chain", staff=True)
    t = handler.t
    desk = staff_logs_in(handler, live, staff["handler"])
    desk.get_by_role("link", name=CASE_LINK).first.click()
    handler.checked()
    for button in ("Ontvangst bevestigen", "Opvolging starten"):
        desk.get_by_role("button", name=t(button), exact=True).click()
        handler.checked()
    desk.get_by_role("textbox", name=t("Samenvatting voor het ADV"), exact=True).fill(
        "Een student werd bij een sollicitatie afgewezen om haar hoofddoek."
    )
    desk.get_by_label("mail-van-het-bedrijf.txt").first.check()  # the referral form comes first
    desk.get_by_role("button", name=t("Doorverwijzen en mailen"), exact=True).click()
    handler.checked()
    desk.get_by_label(t("Antwoord van het ADV"), exact=True).select_option(
        label=t("Het ADV heeft de melding afgesloten")
    )
    desk.get_by_role("textbox", name=t("Wat liet het ADV weten? (de uitkomst)")).fill(
        "Het ADV heeft de student geadviseerd en sluit af."
    )
    desk.get_by_role("button", name=t("Antwoord vastleggen"), exact=True).click()
    handler.checked()
    desk.get_by_label(t("Zoek op naam, plaats of KvK-nummer"), exact=True).fill("Korf")
    desk.get_by_role("button", name=t("Zoeken"), exact=True).first.click()
    handler.checked()
    desk.get_by_role("button", name=t("Koppelen"), exact=True).click()
    handler.checked()
    desk.get_by_role("textbox", name=t("Samenvatting voor SBB, zonder namen van de student")).fill(
        "Een student werd bij de sollicitatie afgewezen om haar hoofddoek."
    )
    desk.get_by_role("button", name=t("Doorzetten naar SBB"), exact=True).click()
    handler.checked()

    # SBB investigates and decides a measure on the company's recognition.
    sbb = visit_factory("sbb", staff=True)
    r = sbb.t
    queue = staff_logs_in(sbb, live, staff["reviewer"])
    queue.get_by_role("link", name=re.compile(r"SBB-\d{5}")).first.click()
    sbb.checked()
    assert not sbb.shows(NARRATIVE)  # SBB sees what was shared, not the story
    queue.get_by_role("button", name=r("Onderzoek starten"), exact=True).click()
    sbb.checked()
    queue.get_by_label(r("Besluit"), exact=True).select_option(
        label=r("Verbeterafspraken met voorwaarden")
    )
    queue.get_by_role("textbox", name=r("Onderbouwing"), exact=True).fill(
        "Gesprekken bevestigen de melding."
    )
    queue.get_by_role("textbox", name=r("Voorwaarden (bij verbeterafspraken)")).fill(
        "Een gedragscode en training voor praktijkopleiders."
    )
    queue.get_by_label(r("Uiterlijk voldaan op (bij verbeterafspraken)")).fill("2099-01-31")
    queue.get_by_role("button", name=r("Besluit vastleggen"), exact=True).click()
    sbb.checked()
    assert sbb.shows(r("Erkend onder voorwaarden"))

    # The handler closes the case with the student.
    desk.reload()
    handler.checked()
    desk.get_by_label(t("Uitkomst"), exact=True).select_option(label=t("Maatregel door SBB"))
    desk.get_by_role("textbox", name=t("Afsluitend bericht aan de student")).fill(
        "SBB heeft afspraken gemaakt met het bedrijf. Dank je wel voor je melding."
    )
    desk.get_by_role("button", name=t("Melding afsluiten"), exact=True).click()
    handler.checked()

    # The student reads the outcome in their own language, and the handler's own words.
    open_with_code(student, code)
    assert student.shows(s("Je melding is afgesloten."))
    assert student.shows(s("SBB heeft verbeterafspraken gemaakt met het leerbedrijf."))
    assert student.shows("Dank je wel voor je melding.")


def monitor_chooses_a_table_and_exports_it(visit_factory, live, staff):
    """A monitor's 2FA login, a table, and its CSV export."""
    monitor = visit_factory("monitor", staff=True)
    t = monitor.t
    page = staff_logs_in(monitor, live, staff["monitor"])
    page.get_by_label(t("Periode"), exact=True).select_option(label=t("Kalenderjaar"))
    page.get_by_label(t("Jaar"), exact=True).fill("2025")
    page.get_by_label(t("Verdeeld naar"), exact=True).select_option(label=t("Fase"))
    page.get_by_role("button", name=t("Tabel maken"), exact=True).click()
    monitor.checked()
    assert page.locator("table.stats").count() == 1
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV", exact=True).click()
    assert download.value.suggested_filename.startswith("meldingen_phase_")


def report_while_the_database_is_away(visit_factory, live):
    """The database is away as the student sends the report: a calm page in their language
    keeps what they typed, and sending it again once the database is back gives the code."""
    from stagepact.extensions import db

    def away(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO REPORT_CASE"):
            raise sa.exc.OperationalError(statement, {}, Exception("the database is away"))

    visit = visit_factory("database-away")
    t = visit.t
    page = visit.go("/meldpunt/noorderpoort/melden")
    page.get_by_role("textbox", name=t("Wat is er gebeurd?"), exact=True).fill(NARRATIVE)
    page.get_by_label(t("Ja, anoniem. School weet dan niet wie ik ben."), exact=True).check()
    with live.db():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", away)
    try:
        page.get_by_role("button", name=t("Melding versturen"), exact=True).click()
        visit.checked()
    finally:
        sa.event.remove(engine, "before_cursor_execute", away)
    assert page.get_by_role("heading", name=t("Het meldpunt is even niet bereikbaar")).count() == 1
    kept = page.get_by_role("textbox", name=t("Je tekst"), exact=True)
    assert kept.input_value() == NARRATIVE
    page.get_by_role("button", name=t("Opnieuw versturen"), exact=True).click()
    visit.checked()
    code = page.locator(".receipt-code").inner_text()
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", code)
