"""Small factories for tests: each makes one thing with sensible defaults."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date

from stagepact.crypto import hash_password
from stagepact.extensions import db
from stagepact.intake import ReportData, submit_report
from stagepact.models import Adv, Company, Institution, User
from stagepact.vocab import Channel, Role

PASSWORD = "correct horse battery staple"
_seq = itertools.count(1)


def _base36(n: int, width: int = 4) -> str:
    """A unique 4-character code (1.6 million of them) for BRIN numbers."""
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = ""
    for _ in range(width):
        n, rest = divmod(n, 36)
        out = digits[rest] + out
    return out


def make_adv(**fields) -> Adv:
    n = next(_seq)
    adv = Adv(
        name=fields.pop("name", f"Antidiscriminatiebureau {n}"),
        region=fields.pop("region", "Regio Test"),
        email=fields.pop("email", f"adv{n}@example.org"),
        phone=fields.pop("phone", "020 123 4567"),
        website=fields.pop("website", "https://adv.example.org"),
        **fields,
    )
    db.session.add(adv)
    db.session.flush()
    return adv


def make_institution(**fields) -> Institution:
    n = next(_seq)
    institution = Institution(
        name=fields.pop("name", f"Testcollege {n}"),
        brin=fields.pop("brin", _base36(n)),
        slug=fields.pop("slug", f"testcollege-{n}"),
        city=fields.pop("city", "Utrecht"),
        adv=fields.pop("adv", None) or make_adv(),
        **fields,
    )
    db.session.add(institution)
    db.session.flush()
    return institution


def make_meldpunt(**fields) -> Institution:
    """An institution whose meldpunt is open: it has a handler who can log in."""
    institution = make_institution(**fields)
    make_user(Role.HANDLER, institution)
    return institution


def make_user(role: Role = Role.HANDLER, institution: Institution | None = None, **fields) -> User:
    n = next(_seq)
    if role in (Role.HANDLER, Role.INSTITUTION_ADMIN) and institution is None:
        institution = make_institution()
    user = User(
        email=fields.pop("email", f"user{n}@example.org"),
        name=fields.pop("name", f"Medewerker {n}"),
        role=role,
        institution=institution,
        password_hash=hash_password(fields.pop("password", PASSWORD)),
        **fields,
    )
    db.session.add(user)
    db.session.flush()
    return user


def make_company(**fields) -> Company:
    n = next(_seq)
    company = Company(
        name=fields.pop("name", f"Leerbedrijf {n} BV"),
        kvk=fields.pop("kvk", f"{10000000 + n}"),
        city=fields.pop("city", "Utrecht"),
        **fields,
    )
    db.session.add(company)
    db.session.flush()
    return company


def make_case(institution: Institution | None = None, **fields):
    """A submitted case; returns (case, receipt code)."""
    institution = institution or make_institution()
    channel = fields.pop("channel", Channel.WEB)
    entered_by = fields.pop("entered_by", None)
    data = ReportData(
        narrative=fields.pop(
            "narrative", "Bij het sollicitatiegesprek zeiden ze dat mijn naam niet past."
        ),
        grounds=fields.pop("grounds", ["name", "origin"]),
        **fields,
    )
    case, code = submit_report(institution, data, channel=channel, entered_by=entered_by)
    db.session.flush()
    return case, code


def make_attachment(
    case, data: bytes = b"Het mailtje van het bedrijf.\n", name: str = "bewijs.txt"
):
    """A file attached to `case` the way a form attaches it."""
    from stagepact import attachments

    attachment = attachments.store_pending(attachments.clean(data, name), None)
    attachments.attach(case, [attachment])
    return attachment


# Personal values of `make_case_with_everything`, each holding a marker that occurs
# nowhere else, so that a test can search every stored value for what must be gone.
PERSONAL = {
    "narrative": "VERHAAL-Zwaluw: de praktijkopleider lachte om mijn hoofddoek.",
    "reporter_name": "NAAM-Zwaluw Fatima el Amrani",
    "student_number": "NUMMER-Zwaluw-448",
    "email": "adres-zwaluw@example.org",
    "phone": "06-ZWALUW-12",
    "notify_email": "nieuws-zwaluw@example.org",
    "programme": "OPLEIDING-Zwaluw Verzorgende IG",
    "incident_period": "PERIODE-Zwaluw voorjaar",
    "company_text": "BEDRIJF-Zwaluw Zorg BV",
    "student_message": "STUDENTBERICHT-Zwaluw het was op dinsdag.",
    "handler_message": "BEHANDELAARBERICHT-Zwaluw kun je langskomen?",
    "note": "NOTITIE-Zwaluw bedrijf gebeld.",
    "adv_summary": "ADVSAMENVATTING-Zwaluw voor het bureau.",
    "adv_note": "ADVNOTITIE-Zwaluw het bureau neemt het niet op.",
    "closing": "AFSLUITING-Zwaluw het bedrijf is aangesproken.",
    "file": "BESTAND-Zwaluw het mailtje van het bedrijf.",
    "message_file": "BERICHTBESTAND-Zwaluw een screenshot als tekst.",
}
PERSONAL_MARKER = "zwaluw"
# The pseudonymised summary SBB received; it stays with SBB after erasure.
SBB_SUMMARY = "Een student werd om haar geloof uitgelachen door de praktijkopleider."


@dataclass
class FullCase:
    case: object
    code: str
    handler: object
    referral: object
    investigation: object
    files: list


def make_case_with_everything(institution: Institution | None = None) -> FullCase:
    """A named, closed case with every kind of personal data: messages both ways, a note,
    files (one with a message), an ADV referral with contact details and an answer, and an
    SBB escalation with the student's name, decided by SBB."""
    from stagepact import attachments, investigations, workflow
    from stagepact.vocab import AdvAnswer, Decision, Outcome

    institution = institution or make_institution()
    handler = make_user(Role.HANDLER, institution)
    case, code = make_case(
        institution,
        narrative=PERSONAL["narrative"],
        is_anonymous=False,
        reporter_name=PERSONAL["reporter_name"],
        student_number=PERSONAL["student_number"],
        email=PERSONAL["email"],
        phone=PERSONAL["phone"],
        contact_preference="email",
        programme=PERSONAL["programme"],
        level="3",
        path="bbl",
        study_year=2,
        incident_date=date(2026, 2, 10),
        incident_period=PERSONAL["incident_period"],
        phase="internship",
        who="trainer",
        form="remark",
        grounds=["religion", "origin"],
        wishes=["conversation", "address_company"],
        company_text=PERSONAL["company_text"],
        consent_contact=True,
        consent_adv=True,
        consent_sbb=True,
        consent_sbb_identity=True,
    )
    case.notify_email = PERSONAL["notify_email"]
    case.company_id = make_company().id
    evidence = make_attachment(case, PERSONAL["file"].encode(), "mail-van-het-bedrijf.txt")
    workflow.acknowledge(case, handler)
    workflow.start_follow_up(case, handler)
    answer = workflow.student_message(case, PERSONAL["student_message"])
    screenshot = attachments.store_pending(
        attachments.clean(PERSONAL["message_file"].encode(), "screenshot.txt"), None
    )
    attachments.attach(case, [screenshot], answer)
    workflow.send_message(case, handler, PERSONAL["handler_message"], is_feedback=True)
    workflow.add_note(case, handler, PERSONAL["note"])
    referral = workflow.refer(
        case, handler, institution.adv, PERSONAL["adv_summary"], True, [evidence.id]
    )
    workflow.record_adv_answer(case, handler, AdvAnswer.DECLINED, PERSONAL["adv_note"])
    investigation = workflow.escalate(case, handler, SBB_SUMMARY, True, [evidence.id])
    reviewer = make_user(Role.SBB_REVIEWER)
    investigations.start(investigation, reviewer)
    investigations.decide(investigation, reviewer, Decision.CONVERSATION, "Gesprek gevoerd.")
    workflow.close(case, handler, Outcome.COMPANY_ADDRESSED, PERSONAL["closing"])
    db.session.flush()
    return FullCase(case, code, handler, referral, investigation, [evidence, screenshot])


def opened_case_id(client) -> int | None:
    """The case a student's browser has open for follow-up, as the server sees it."""
    from stagepact import follow_up_sessions

    with client.session_transaction() as session:
        session_id = session.get("follow_up")
    row = follow_up_sessions.find(session_id)
    return row.case_id if row is not None else None
