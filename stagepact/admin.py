"""Administration: institutions, staff accounts and the ADV register, each change
with its audit event.

The rules for a new institution (BRIN, address, texts) live here and refuse with a
`DomainError` naming the input; the `create-institution` command and the pages call them.
`add_institution` and `add_user` take values already checked (the demo, the commands).
"""

from __future__ import annotations

import re
import unicodedata

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from . import accounts, audit
from .errors import DomainError
from .extensions import db
from .models import Adv, Institution, User
from .vocab import Role

MELDPUNT_PATH = "/meldpunt/{slug}"
BRIN_PATTERN = re.compile(r"[0-9A-Z]{4}")
SLUG_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
SLUG_MAX_LENGTH = 80

# The ADV's columns a platform admin maintains, in the order the form shows them.
ADV_FIELDS = ("name", "region", "municipalities", "email", "phone", "website")
_OPTIONAL_ADV_FIELDS = {"email", "phone", "website"}


# --- A new institution -----------------------------------------------------------------


def slugify(text: str) -> str:
    """Lowercase ASCII words joined by hyphens: "Grafisch Lyceum Één" -> "grafisch-lyceum-een"."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    return "-".join(words)[:SLUG_MAX_LENGTH].strip("-")


def _required_text(value: str | None, field: str, label, max_length: int) -> str:
    value = (value or "").strip()
    if not value:
        raise DomainError(_l("Vul %(label)s in.", label=label), field)
    if len(value) > max_length:
        raise DomainError(
            _l("%(label)s is te lang (hoogstens %(max)d tekens).", label=label, max=max_length),
            field,
        )
    return value


def valid_brin(brin: str) -> str:
    """A new institution's BRIN code: four letters or digits, not yet in use."""
    brin = (brin or "").strip().upper()
    if not BRIN_PATTERN.fullmatch(brin):
        raise DomainError(_l("Een BRIN-code is 4 letters of cijfers, bijvoorbeeld 25LH."), "brin")
    if db.session.scalar(sa.select(Institution.id).where(Institution.brin == brin)):
        raise DomainError(_l("Er is al een instelling met BRIN-code %(brin)s.", brin=brin), "brin")
    return brin


def valid_slug(slug: str | None, name: str) -> str:
    """The address of a new meldpunt: the one asked for, or made from the name."""
    slug = slug.strip().lower() if slug else slugify(name)
    if len(slug) > SLUG_MAX_LENGTH or not SLUG_PATTERN.fullmatch(slug):
        raise DomainError(
            _l(
                "Een slug bestaat uit kleine letters, cijfers en streepjes, zoals %(example)s.",
                example="grafisch-lyceum",
            ),
            "slug",
        )
    if db.session.scalar(sa.select(Institution.id).where(Institution.slug == slug)):
        raise DomainError(
            _l("Het adres %(path)s is al in gebruik.", path=MELDPUNT_PATH.format(slug=slug)),
            "slug",
        )
    return slug


def closed_reason(handlers: dict[str, int] | None):
    """Why an institution's meldpunt takes no reports, in words, from its handler counts
    (`scoping.handler_counts`); None while it is open."""
    handlers = handlers or {}
    if handlers.get("ready"):
        return None
    if handlers.get("invited"):
        return _l("de uitgenodigde behandelaar heeft nog geen wachtwoord gekozen")
    if handlers.get("disabled"):
        return _l("alle behandelaars zijn uitgeschakeld")
    return _l("er is nog geen behandelaar")


def institution_by_brin(brin: str) -> Institution:
    """The institution with this BRIN code; refuses one that does not exist."""
    brin = brin.strip().upper()
    institution = db.session.scalar(sa.select(Institution).where(Institution.brin == brin))
    if institution is None:
        raise DomainError(
            _l("Er is geen instelling met BRIN-code %(brin)s.", brin=brin), "institution_id"
        )
    return institution


def _existing_adv(adv_id: int | None) -> Adv | None:
    if adv_id is None:
        return None
    adv = db.session.get(Adv, adv_id)
    if adv is None:
        raise DomainError(
            _l("Er is geen antidiscriminatievoorziening met id %(id)d.", id=adv_id), "adv_id"
        )
    return adv


def create_institution(
    *,
    name: str,
    brin: str,
    city: str,
    slug: str | None = None,
    region: str = "",
    adv_id: int | None = None,
    intro_text: str = "",
    ack_working_days: int = 5,
    feedback_months: int = 3,
) -> Institution:
    """A new institution from what someone typed, checked, in the session with its audit
    event; a DomainError names the first input that is refused."""
    name = _required_text(name, "name", _l("de naam"), 200)
    return add_institution(
        name=name,
        brin=valid_brin(brin),
        city=_required_text(city, "city", _l("de plaats"), 100),
        slug=valid_slug(slug, name),
        region=(region or "").strip()[:100],
        adv=_existing_adv(adv_id),
        intro_text=(intro_text or "").strip()[:5000],
        ack_working_days=ack_working_days,
        feedback_months=feedback_months,
    )


def add_institution(
    *,
    name: str,
    brin: str,
    slug: str,
    city: str,
    region: str = "",
    adv: Adv | None = None,
    demo: bool = False,
    **fields,
) -> Institution:
    institution = Institution(
        name=name, brin=brin, slug=slug, city=city, region=region, adv=adv, **fields
    )
    db.session.add(institution)
    db.session.flush()
    details = {"brin": institution.brin, "slug": institution.slug, "adv_id": institution.adv_id}
    if demo:
        details["demo"] = True
    audit.record("institution.created", institution_id=institution.id, actor="system", **details)
    return institution


def add_user(
    *,
    email: str,
    name: str,
    role: Role,
    institution: Institution | None,
    password_hash: str,
    demo: bool = False,
    language: str | None = None,
) -> User:
    """A staff account with a password already checked (`accounts.check_password`) and
    hashed."""
    email, name = accounts.check_new_account(email, name, role, institution)
    user = User(
        email=email,
        name=name,
        role=role,
        institution=institution,
        password_hash=password_hash,
        language=language,
    )
    db.session.add(user)
    db.session.flush()
    details = {"user_id": user.id, "role": str(role)}
    if demo:
        details["demo"] = True
    audit.record("user.created", institution_id=user.institution_id, actor="system", **details)
    return user


# --- The ADV register ---------------------------------------------------------------------


def normalise_municipalities(text: str | None) -> str:
    """One municipality per line, whether typed one per line or comma separated.

    Blank entries and repeats (ignoring capitals) are dropped; the first spelling stays.
    """
    seen: set[str] = set()
    names = []
    for part in re.split(r"[,\r\n]+", text or ""):
        name = " ".join(part.split())
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            names.append(name)
    return "\n".join(names)


def _clean_adv_values(values: dict) -> dict:
    unknown = set(values) - set(ADV_FIELDS)
    if unknown:
        raise TypeError(f"not a field of an ADV: {', '.join(sorted(unknown))}")
    clean = {}
    for field in ADV_FIELDS:
        value = (values.get(field) or "").strip()
        if field == "municipalities":
            value = normalise_municipalities(value)
        clean[field] = value or (None if field in _OPTIONAL_ADV_FIELDS else "")
    return clean


def save_adv(adv: Adv | None, *, actor: User | str, **values) -> tuple[Adv, list[str]]:
    """Add an ADV to the register (`adv` is None) or change one.

    Returns the ADV and the names of the fields that changed. Writes one audit event
    with those names, none when nothing changed. The caller validated the values.
    """
    clean = _clean_adv_values(values)
    if adv is None:
        adv = Adv(**clean)
        db.session.add(adv)
        db.session.flush()
        changed = [field for field in ADV_FIELDS if clean[field]]
        audit.record("adv.created", actor=actor, adv_id=adv.id, fields=changed)
        return adv, changed
    changed = [field for field in ADV_FIELDS if getattr(adv, field) != clean[field]]
    if changed:
        for field in changed:
            setattr(adv, field, clean[field])
        db.session.flush()
        audit.record("adv.updated", actor=actor, adv_id=adv.id, fields=changed)
    return adv, changed


# The settings of an institution that its admin (and, for the ADV, the platform admin) set.
SETTINGS = (
    "intro_text",
    "ack_working_days",
    "feedback_months",
    "overdue_repeat_days",
    "overdue_admin_days",
    "retention_months",
    "require_2fa",
    "colour",
    "adv_id",
)


def change_settings(institution: Institution, *, actor: User | str, **values) -> list[str]:
    """Change some of an institution's SETTINGS, its default ADV among them.

    Returns the names of the settings that changed, and writes one
    `institution.settings_changed` event naming them (with the ADV before and after when
    that changed), none when nothing changed. The caller validated the values.
    """
    unknown = set(values) - set(SETTINGS)
    if unknown:
        raise TypeError(f"not a setting of an institution: {', '.join(sorted(unknown))}")
    previous_adv_id = institution.adv_id
    changed = [
        name for name in SETTINGS if name in values and getattr(institution, name) != values[name]
    ]
    if not changed:
        return []
    for name in changed:
        setattr(institution, name, values[name])
    details: dict = {"fields": changed}
    if "adv_id" in changed:
        details |= {"adv_id": institution.adv_id, "previous_adv_id": previous_adv_id}
    db.session.flush()
    audit.record(
        "institution.settings_changed", institution_id=institution.id, actor=actor, **details
    )
    return changed


def advs_in_order() -> list[Adv]:
    """The whole register by name: it holds one ADV per region, a few dozen at most."""
    return db.session.scalars(sa.select(Adv).order_by(sa.func.lower(Adv.name), Adv.id)).all()


def advs_with_usage() -> list[tuple[Adv, int]]:
    """Each ADV by name, with how many institutions have it as their default."""
    usage = (
        sa.select(Institution.adv_id, sa.func.count(Institution.id).label("institutions"))
        .where(Institution.adv_id.is_not(None))
        .group_by(Institution.adv_id)
        .subquery()
    )
    rows = db.session.execute(
        sa.select(Adv, sa.func.coalesce(usage.c.institutions, 0))
        .outerjoin(usage, usage.c.adv_id == Adv.id)
        .order_by(sa.func.lower(Adv.name), Adv.id)
    ).all()
    return [(adv, count) for adv, count in rows]
