"""The audit trail: one append-only, hash-chained event per action.

`record` adds the event to the current transaction, so that it commits or
rolls back with the change it describes. Each event's hash covers its own
fields and the hash of the event before it; `verify_chain` walks the chain and
names the first event that does not fit. Details hold codes, ids and field
names, never the content of personal fields.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import sqlalchemy as sa
from flask_login import current_user

from .extensions import db
from .models import AuditEvent, AuditHead, Case, User, utcnow

GENESIS_HASH = "0" * 64


def _canonical(event) -> bytes:
    fields = [
        event.prev_hash,
        event.created_at.isoformat(timespec="microseconds"),
        event.actor_type,
        "" if event.actor_id is None else str(event.actor_id),
        "" if event.institution_id is None else str(event.institution_id),
        "" if event.case_id is None else str(event.case_id),
        event.action,
        event.details,
    ]
    return json.dumps(fields, ensure_ascii=True, separators=(",", ":")).encode()


def compute_hash(event) -> str:
    """The hash of an event (a model instance or a row of the table)."""
    return hashlib.sha256(_canonical(event)).hexdigest()


def _locked_head() -> AuditHead:
    """The head row, locked until the transaction ends (one writer at a time)."""
    head = db.session.scalar(sa.select(AuditHead).where(AuditHead.id == 1).with_for_update())
    if head is None:
        head = AuditHead(id=1, last_event_id=0, last_hash=GENESIS_HASH, event_count=0)
        db.session.add(head)
    return head


def record(
    action: str,
    *,
    case: Case | None = None,
    institution_id: int | None = None,
    actor: User | str | None = None,
    **details,
) -> AuditEvent:
    """Append one event to the chain in the current transaction.

    `actor` is a user, or one of "reporter", "system", "anonymous"; by default
    the logged-in user, else "system". Details must not hold personal content.
    """
    if actor is None:
        actor = current_user._get_current_object() if _has_user() else "system"
    if isinstance(actor, User):
        actor_type, actor_id = "user", actor.id
    else:
        actor_type, actor_id = actor, None
    if case is not None:
        if case.id is None:
            db.session.flush()
        institution_id = case.institution_id
    event = AuditEvent(
        created_at=utcnow(),
        actor_type=actor_type,
        actor_id=actor_id,
        institution_id=institution_id,
        case_id=case.id if case is not None else None,
        action=action,
        details=json.dumps(details, sort_keys=True, ensure_ascii=False, default=str),
    )
    head = _locked_head()
    event.prev_hash = head.last_hash
    event.hash = compute_hash(event)
    db.session.add(event)
    db.session.flush()
    head.last_event_id = event.id
    head.last_hash = event.hash
    head.event_count += 1
    return event


def _has_user() -> bool:
    try:
        return bool(current_user) and current_user.is_authenticated
    except Exception:  # no request context: a CLI command or a test
        return False


# Why an event breaks the chain, with the English wording for logs and tests.
CHAIN_PROBLEMS = {
    "unlinked": "does not follow the event before it (removed or reordered)",
    "changed": "content does not match its hash (changed)",
    "truncated": "is missing: events were removed from the end of the chain",
}


@dataclass
class ChainProblem:
    event_id: int
    code: str  # a key of CHAIN_PROBLEMS

    @property
    def reason(self) -> str:
        return CHAIN_PROBLEMS[self.code]


def verify_chain(batch_size: int = 5000) -> tuple[int, ChainProblem | None]:
    """Walk the whole chain in id order; return (events checked, first problem).

    Reads plain rows in batches, so that a long chain neither fills the
    session nor detaches the caller's objects.
    """
    table = AuditEvent.__table__
    expected_prev = GENESIS_HASH
    checked = 0
    last_id = 0
    while True:
        rows = db.session.execute(
            sa.select(table).where(table.c.id > last_id).order_by(table.c.id).limit(batch_size)
        ).all()
        if not rows:
            break
        for row in rows:
            if row.prev_hash != expected_prev:
                return checked, ChainProblem(row.id, "unlinked")
            if compute_hash(row) != row.hash:
                return checked, ChainProblem(row.id, "changed")
            expected_prev = row.hash
            checked += 1
            last_id = row.id
    head = db.session.get(AuditHead, 1)
    if head is None:
        # No head: only right for an empty chain (a removed head hides a removed tail).
        return checked, (ChainProblem(last_id + 1, "truncated") if checked else None)
    if head.last_hash != expected_prev or head.event_count != checked:
        return checked, ChainProblem(head.last_event_id, "truncated")
    return checked, None


def events_for_case(case: Case) -> list[AuditEvent]:
    return db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.case_id == case.id).order_by(AuditEvent.id)
    ).all()
