"""API tokens for monitors: shown once, stored as a hash, revocable."""

from __future__ import annotations

import secrets

import sqlalchemy as sa

from . import audit
from .crypto import token_digest
from .extensions import db
from .models import ApiToken, User, utcnow
from .vocab import Role

PREFIX = "spm_"
MAX_ACTIVE = 10


class TokenError(Exception):
    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


def create(user: User, name: str, actor: User | str | None = None) -> tuple[ApiToken, str]:
    """A new token for a monitor; the plain token is returned once and never stored."""
    from flask_babel import lazy_gettext as _l

    if user.role != Role.MONITOR or not user.active:
        raise TokenError(_l("Alleen een actieve monitor kan een API-sleutel krijgen."))
    active = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    )
    if active >= MAX_ACTIVE:
        raise TokenError(_l("U hebt al %(n)d sleutels. Trek er eerst een in.", n=MAX_ACTIVE))
    plain = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name.strip()[:100], token_hash=token_digest(plain))
    db.session.add(token)
    db.session.flush()
    audit.record("api_token.created", actor=actor or user, token_id=token.id, user_id=user.id)
    return token, plain


def revoke(token: ApiToken, actor: User) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record("api_token.revoked", actor=actor, token_id=token.id, user_id=token.user_id)


def tokens_of(user: User) -> list[ApiToken]:
    return db.session.scalars(
        sa.select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
    ).all()


def user_for(authorization: str | None) -> tuple[User, ApiToken] | None:
    """The active monitor a `Bearer` header belongs to, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value.startswith(PREFIX) or len(value) > 200:
        return None
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == token_digest(value)))
    if token is None or not token.is_active:
        return None
    user = token.user
    if not user.active or user.role != Role.MONITOR:
        return None
    token.last_used_at = utcnow()
    return user, token
