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
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.dialects import postgresql, sqlite

from .extensions import db
from .models import AuditEvent, AuditHead, Case, User, utcnow

GENESIS_HASH = "0" * 64

# --- Every action the trail records: its name (what happened, in the past tense) and how a
# case's timeline shows it (None: never on a timeline). `record` refuses any other name.
ACTIONS: dict[str, object] = {
    # A case, as its timeline shows it.
    "case.submitted": _l("Melding ontvangen"),
    "case.viewed": _l("Melding bekeken"),
    "case.acknowledged": _l("Ontvangst bevestigd"),
    "case.follow_up_started": _l("Opvolging gestart"),
    "case.referred": _l("Doorverwezen naar ADV"),
    "case.returned_from_referral": _l("Terug van ADV"),
    "case.escalated": _l("Doorgezet naar SBB"),
    "case.returned_from_escalation": _l("Terug van SBB"),
    "case.closed": _l("Afgesloten"),
    "case.reopened": _l("Heropend"),
    "case.withdrawn": _l("Ingetrokken door de student"),
    "case.assigned": _l("Toegewezen"),
    "case.message_sent": _l("Bericht aan de student"),
    "case.note_added": _l("Interne notitie"),
    "case.student_message_added": _l("Bericht van de student"),
    "case.code_used": _l("De student opende de melding met de code"),
    "case.notice_email_set": _l("De student gaf een e-mailadres voor berichten"),
    "case.reminder_sent": _l("Herinnering over de termijn gemaild"),
    "case.overdue_reminder_sent": _l("Termijn verlopen: herinnering gemaild"),
    "case.company_linked": _l("Leerbedrijf gekoppeld"),
    "case.company_merged": _l("Leerbedrijf door SBB gekoppeld aan het register"),
    "case.consent_recorded": _l("Toestemming vastgelegd"),
    "case.adv_answered": _l("Antwoord van het ADV vastgelegd"),
    "case.attachments_added": _l("Bestanden toegevoegd"),
    "case.attachment_downloaded": _l("Bestand gedownload"),
    "case.data_exported": _l("De student downloadde de gegevens van de melding"),
    "case.erasure_requested": _l("De student vroeg om verwijdering van de gegevens"),
    "case.personal_data_erased": _l("Persoonsgegevens gewist"),
    # SBB's investigation of a case, on the case's timeline too.
    "investigation.viewed": _l("SBB bekeek het onderzoek"),
    "investigation.attachment_downloaded": _l("SBB downloadde een gedeeld bestand"),
    "investigation.identity_removed": _l("Naam van de student verwijderd bij SBB"),
    "investigation.case_withdrawn": _l("SBB hoorde dat de student de melding introk"),
    "investigation.reminder_sent": _l("SBB herinnerd aan de eigen termijn"),
    "investigation.suspension_ended": _l("De schorsing van het leerbedrijf is afgelopen"),
    "investigation.agreements_reminded": _l("SBB herinnerd: de verbeterafspraken zijn verlopen"),
    "investigation.started": _l("SBB is het onderzoek gestart"),
    "investigation.decided": _l("SBB heeft besloten"),
    "investigation.objection_recorded": _l("Bezwaar van het bedrijf bij SBB"),
    "investigation.objection_resolved": _l("SBB heeft op het bezwaar beslist"),
    "investigation.closed": _l("SBB heeft het onderzoek afgesloten"),
    "investigation.message_sent": _l("Bericht tussen SBB en het meldpunt"),
    "investigation.opened_from_signal": None,
    # Everything else: accounts, administration, operations.
    "receipt.code_failed": None,
    "auth.logged_in": None,
    "auth.logged_out": None,
    "auth.login_failed": None,
    "user.created": None,
    "user.invited": None,
    "user.invite_link_issued": None,
    "user.reset_link_issued": None,
    "user.reset_requested": None,
    "user.reset_mail_limited": None,
    "user.password_set": None,
    "user.disabled": None,
    "user.2fa_enabled": None,
    "user.2fa_reset": None,
    "user.recovery_code_used": None,
    "user.failed_logins_notice": None,
    "api_token.created": None,
    "api_token.revoked": None,
    "institution.created": None,
    "institution.settings_changed": None,
    "institution.meldpunt_closed": None,
    "user.away_changed": None,
    "adv.created": None,
    "adv.updated": None,
    "company.added_unverified": None,
    "company.verified": None,
    "company.merged": None,
    "company.recognition_changed": None,
    "companies.imported": None,
    "statistics.published": None,
    "statistics.viewed": None,
    "statistics.exported": None,
    "statistics.api_read": None,
    "mail.sent": None,
    "mail.purged": None,
    "uploads.purged": None,
    "encryption.key_rotated": None,
    "demo.loaded": None,
}
# Names events were recorded under before the registry; the trail keeps them as written.
RENAMED = {
    "case.acknowledge": "case.acknowledged",
    "case.start_follow_up": "case.follow_up_started",
    "case.refer": "case.referred",
    "case.return_from_referral": "case.returned_from_referral",
    "case.escalate": "case.escalated",
    "case.return_from_escalation": "case.returned_from_escalation",
    "case.close": "case.closed",
    "case.reopen": "case.reopened",
    "case.withdraw": "case.withdrawn",
    "case.student_message": "case.student_message_added",
    "case.reminder": "case.reminder_sent",
    "case.adv_answer": "case.adv_answered",
    "investigation.start": "investigation.started",
    "investigation.decide": "investigation.decided",
    "investigation.object": "investigation.objection_recorded",
    "investigation.resolve_objection": "investigation.objection_resolved",
    "investigation.close": "investigation.closed",
    "investigation.message": "investigation.message_sent",
    "auth.login": "auth.logged_in",
    "auth.logout": "auth.logged_out",
    "statistics.api": "statistics.api_read",
    "institution.adv_set": "institution.settings_changed",
}


def canonical(action: str) -> str:
    """An action's name in the registry, for an event recorded under an older name too."""
    return RENAMED.get(action, action)


def label(action: str) -> str:
    """How a case's timeline names an action (an older name too), or the name itself."""
    found = ACTIONS.get(canonical(action))
    return str(found) if found is not None else action


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
    """The head row, locked until the transaction ends (one writer at a time).

    The very first event writes the head; two first events at once both try, and the
    second waits for the first (ON CONFLICT DO NOTHING) and then locks its row."""
    locked = sa.select(AuditHead).where(AuditHead.id == 1).with_for_update()
    head = db.session.scalar(locked)
    if head is None:
        insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
        db.session.execute(
            insert(AuditHead)
            .values(id=1, last_event_id=0, last_hash=GENESIS_HASH, event_count=0)
            .on_conflict_do_nothing()
        )
        head = db.session.scalar(locked.execution_options(populate_existing=True))
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
    the logged-in user, else "system". Details must not hold personal content. The
    action must be one of ACTIONS.
    """
    if action not in ACTIONS:
        raise ValueError(f"{action!r} is not an audit action: add it to audit.ACTIONS")
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
