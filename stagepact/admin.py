"""Administration: institutions and staff accounts, each created with its audit event.

The `create-institution` and `create-user` commands validate their input and
call these; so does the demo, and so will the administration pages.
"""

from __future__ import annotations

from . import audit
from .extensions import db
from .models import Adv, Institution, User
from .vocab import Role


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
) -> User:
    user = User(
        email=email, name=name, role=role, institution=institution, password_hash=password_hash
    )
    db.session.add(user)
    db.session.flush()
    details = {"user_id": user.id, "role": str(role)}
    if demo:
        details["demo"] = True
    audit.record("user.created", institution_id=user.institution_id, actor="system", **details)
    return user
