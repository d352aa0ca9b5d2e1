"""A student's follow-up session: a browser that opened a case with its code.

The cookie carries only a random id; the server keeps a row with its SHA-256, so
that the session can end on the server: when the student closes the case on this
device, withdraws the report or asks for erasure, when the personal data are erased,
after `FOLLOW_UP_SESSION_SECONDS` without activity, and after
`FOLLOW_UP_SESSION_MAX_SECONDS` however active. A copied cookie then opens nothing.
Ended rows are deleted by the daily `retention` command (`purge`).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from .crypto import token_digest
from .extensions import db
from .models import Case, FollowUpSession, utcnow

# last_seen_at is written at most this often, so that reading pages costs no write each.
TOUCH_SECONDS = 60


def _idle() -> timedelta:
    return timedelta(seconds=current_app.config["FOLLOW_UP_SESSION_SECONDS"])


def _lifetime() -> timedelta:
    return timedelta(seconds=current_app.config["FOLLOW_UP_SESSION_MAX_SECONDS"])


def start(case: Case) -> str:
    """A new session on `case`; the returned id goes in the cookie and nowhere else."""
    session_id = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(
        FollowUpSession(
            id_hash=token_digest(session_id), case=case, created_at=now, last_seen_at=now
        )
    )
    return session_id


def _live(now: datetime):
    return sa.and_(
        FollowUpSession.revoked_at.is_(None),
        FollowUpSession.last_seen_at > now - _idle(),
        FollowUpSession.created_at > now - _lifetime(),
    )


def find(session_id: object) -> FollowUpSession | None:
    """The live session with this id, or None (unknown, ended, or not a string)."""
    if not isinstance(session_id, str) or not session_id:
        return None
    return db.session.scalar(
        sa.select(FollowUpSession).where(
            FollowUpSession.id_hash == token_digest(session_id), _live(utcnow())
        )
    )


def touch(row: FollowUpSession) -> bool:
    """Note the student's activity; True if the row changed (and needs a commit)."""
    now = utcnow()
    if now - row.last_seen_at < timedelta(seconds=TOUCH_SECONDS):
        return False
    row.last_seen_at = now
    return True


def end(session_id: object) -> None:
    """End this one session ("close on this device")."""
    if isinstance(session_id, str) and session_id:
        db.session.execute(
            sa.update(FollowUpSession)
            .where(
                FollowUpSession.id_hash == token_digest(session_id),
                FollowUpSession.revoked_at.is_(None),
            )
            .values(revoked_at=utcnow())
        )


def end_all(case: Case) -> None:
    """End every session on `case`, on every device: withdrawal, erasure."""
    db.session.execute(
        sa.update(FollowUpSession)
        .where(FollowUpSession.case_id == case.id, FollowUpSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )


def purge(now: datetime | None = None) -> int:
    """Delete the rows of ended sessions; how many."""
    now = now or utcnow()
    result = db.session.execute(
        sa.delete(FollowUpSession)
        .where(sa.not_(_live(now)))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount
