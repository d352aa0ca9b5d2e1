"""Small factories for tests: each makes one thing with sensible defaults."""

from __future__ import annotations

import itertools

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
