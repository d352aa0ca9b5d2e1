"""Administration: institutions, staff accounts and the ADV register, each change
with its audit event.

The `create-institution` and `create-user` commands validate their input and
call these; so do the demo and the platform admin's pages.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from . import audit
from .extensions import db
from .models import Adv, Institution, User
from .vocab import Role

# The ADV's columns a platform admin maintains, in the order the form shows them.
ADV_FIELDS = ("name", "region", "municipalities", "email", "phone", "website")
_OPTIONAL_ADV_FIELDS = {"email", "phone", "website"}


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


def set_default_adv(institution: Institution, adv: Adv | None, *, actor: User | str) -> bool:
    """Make `adv` (or no ADV) the one an institution's students are pointed to.

    Returns whether it changed; only a change writes its audit event.
    """
    previous_id = institution.adv_id
    new_id = adv.id if adv is not None else None
    if previous_id == new_id:
        return False
    institution.adv = adv
    db.session.flush()
    audit.record(
        "institution.adv_set",
        institution_id=institution.id,
        actor=actor,
        adv_id=new_id,
        previous_adv_id=previous_id,
    )
    return True


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
