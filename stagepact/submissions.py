"""A report form is accepted once, whatever happens to the answer.

Each report form carries a random submission id. When the form is accepted, a
`Submission` row with a hash of that id is written in the transaction that opens the
case, so the id cannot open a second case: not after a reload, not when the connection
dropped between the commit and the answer, not when the database was briefly away and
the request ran again (`database.retrying`). Two sends at the same moment meet at the
row's primary key.

The receipt code is the student's only key to the case, and it is shown in the answer to
the POST alone. So that a lost answer does not lose the code, the row keeps it, encrypted,
for `KEEP` (two hours), and shows it again to the same browser only: the row also holds a
hash of a random key in that browser's session, which "stop on this device" ends. After
that time `forget_codes` (hourly, with `purge-uploads`) wipes it; the form sent again
then says it was already sent, without the code. Rows go after `KEEP_ROWS`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import session

from .crypto import token_digest
from .extensions import db
from .models import Case, Submission, utcnow

KEEP = timedelta(hours=2)
KEEP_ROWS = timedelta(days=30)
BROWSER_KEY = "browser"


def browser_key() -> str:
    """A random key of this browser's session, made when it first shows a report form."""
    key = session.get(BROWSER_KEY)
    if not isinstance(key, str) or len(key) < 16:
        key = session[BROWSER_KEY] = secrets.token_urlsafe(16)
    return key


@dataclass(frozen=True)
class Earlier:
    """A form that was accepted before: its case, and its code if this browser may see it."""

    case: Case
    code: str | None


def earlier(submission_id: str | None) -> Earlier | None:
    """The case this form opened before, if it did."""
    if not submission_id:
        return None
    row = db.session.get(Submission, token_digest(submission_id))
    if row is None:
        return None
    fresh = row.created_at > utcnow() - KEEP
    same_browser = secrets.compare_digest(row.browser_hash, token_digest(browser_key()))
    code = row.receipt_code if fresh and same_browser else None
    return Earlier(case=row.case, code=code)


def record(submission_id: str | None, case: Case, code: str) -> None:
    """Remember, in the caller's transaction, that this form opened `case`."""
    if not submission_id:
        return
    db.session.add(
        Submission(
            id_hash=token_digest(submission_id),
            case=case,
            browser_hash=token_digest(browser_key()),
            receipt_code=code,
            created_at=utcnow(),
        )
    )


def forget_codes() -> int:
    """Wipe codes kept longer than `KEEP`, and rows older than `KEEP_ROWS`; returns how many
    codes were wiped."""
    now = utcnow()
    wiped = db.session.execute(
        sa.update(Submission)
        .where(Submission.receipt_code.is_not(None), Submission.created_at <= now - KEEP)
        .values(receipt_code=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.execute(sa.delete(Submission).where(Submission.created_at <= now - KEEP_ROWS))
    return wiped


def forget_case(case: Case) -> None:
    """Wipe a code still kept for `case` (its personal data are erased)."""
    db.session.execute(
        sa.update(Submission)
        .where(Submission.case_id == case.id)
        .values(receipt_code=None)
        .execution_options(synchronize_session=False)
    )
