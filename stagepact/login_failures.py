"""Failed logins: throttling slows the guesser, not the account's owner.

Failures are counted per (account, address), the address an IPv4 address or an IPv6 /64
(`extensions.client_address`) kept only as a keyed hash. After FREE_FAILURES, each failure
doubles that address's wait (up to MAX_DELAY), during which its tries are not even
checked. Once the account has ACCOUNT_CEILING failures within the hour from anywhere,
every address that failed within that hour waits, and waits MAX_DELAY after each new
failure: a guesser spread over many addresses gets about one try per address. An address
without failures is never made to wait, so the owner's correct password from their own
address is always checked (and a new password clears every address's failures). The
owner hears of repeated failures by mail, at most once an hour.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from . import audit
from .extensions import db, keyed_digest
from .models import LoginFailure, User, utcnow

FREE_FAILURES = 5  # per address, before that address waits
MAX_DELAY = timedelta(minutes=15)
ACCOUNT_CEILING = 20  # failures within FAILURE_WINDOW from all addresses together
FAILURE_WINDOW = timedelta(hours=1)
FORGET_AFTER = timedelta(days=1)  # an address's failures after a quiet day
NOTICE_AFTER = 10  # failures within FAILURE_WINDOW before the owner is mailed
NOTICE_INTERVAL = timedelta(hours=1)


def _pair(user: User, address: str) -> LoginFailure | None:
    return db.session.scalar(
        sa.select(LoginFailure).where(
            LoginFailure.user_id == user.id,
            LoginFailure.address_hash == keyed_digest("login-address", address),
        )
    )


def login_delayed(user: User | None, address: str) -> bool:
    """Whether tries for `user` from `address` must wait (always False for a clean address)."""
    if user is None:
        return False
    pair = _pair(user, address)
    if pair is None:
        return False
    now = utcnow()
    if pair.delayed_until is not None and pair.delayed_until > now:
        return True
    # Over the account's ceiling, every address that failed recently waits, not just the
    # one that failed last.
    return pair.last_failed_at > now - FAILURE_WINDOW and recent_failures(user, now) >= (
        ACCOUNT_CEILING
    )


def recent_failures(user: User, now: datetime | None = None) -> int:
    """Failures for `user` from every address that failed within the last FAILURE_WINDOW."""
    since = (now or utcnow()) - FAILURE_WINDOW
    total = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(LoginFailure.failures), 0)).where(
            LoginFailure.user_id == user.id, LoginFailure.last_failed_at > since
        )
    )
    return int(total or 0)


def record_failure(user: User | None, address: str) -> None:
    """A wrong password or code for `user` from `address`: that address waits longer."""
    if user is None:
        return
    now = utcnow()
    # Quiet addresses are forgotten, of every account (the table stays small).
    db.session.execute(
        sa.delete(LoginFailure).where(LoginFailure.last_failed_at < now - FORGET_AFTER)
    )
    pair = _pair(user, address)
    if pair is None:
        try:
            with db.session.begin_nested():
                pair = LoginFailure(
                    user_id=user.id,
                    address_hash=keyed_digest("login-address", address),
                    failures=0,
                    last_failed_at=now,
                )
                db.session.add(pair)
        except sa.exc.IntegrityError:  # another worker counted this address's first failure
            pair = _pair(user, address)
    pair.failures = (pair.failures or 0) + 1
    pair.last_failed_at = now
    user.failed_logins = (user.failed_logins or 0) + 1
    db.session.flush()
    across = recent_failures(user, now)
    extra = pair.failures - FREE_FAILURES  # 1 s after the sixth, doubling from there
    if across >= ACCOUNT_CEILING:
        pair.delayed_until = now + MAX_DELAY
    elif extra > 0:
        pair.delayed_until = now + min(timedelta(seconds=2 ** (extra - 1)), MAX_DELAY)
    if across >= NOTICE_AFTER and (
        user.failure_notice_at is None or user.failure_notice_at <= now - NOTICE_INTERVAL
    ):
        from . import notify

        user.failure_notice_at = now
        notify.owner_of_failed_logins(user, across)
        audit.record("user.failed_logins_notice", actor="system", user_id=user.id)


def record_success(user: User, address: str) -> int:
    """Forgets this address's failures; returns how many failures there were since the last
    login (from every address)."""
    failures = user.failed_logins or 0
    user.failed_logins = 0
    user.last_login_at = utcnow()
    db.session.execute(
        sa.delete(LoginFailure).where(
            LoginFailure.user_id == user.id,
            LoginFailure.address_hash == keyed_digest("login-address", address),
        )
    )
    return failures


def forget_all(user: User) -> None:
    """A new password: every address starts again, and so does the count shown at login."""
    user.failed_logins = 0
    db.session.execute(sa.delete(LoginFailure).where(LoginFailure.user_id == user.id))
