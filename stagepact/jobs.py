"""The scheduled jobs cron runs, each a function the `stagepact` commands call.

A job does its work in the transactions it names, records its audit event with
actor "system", and returns what it did; the command only reads its options and
prints. A job that goes through many items commits after each one, so that a failure
half-way loses nothing that was already done.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from . import (
    attachments,
    audit,
    deadlines,
    follow_up_sessions,
    key_rotation,
    outbox,
    reminders,
    retention,
    statistics,
)
from .extensions import db


@dataclass(frozen=True)
class MailRound:
    reminded: int  # deadline reminders queued
    sent: int
    failed: int  # kept in the outbox, tried again later


def send_mail(limit: int) -> MailRound:
    """Queue the deadline reminders that fell due, then hand due mail to the mail server."""
    reminded = reminders.queue_due_reminders(deadlines.today())
    db.session.commit()
    sent, failed = outbox.send_due(limit=limit)
    if sent or failed:
        audit.record("mail.sent", actor="system", sent=sent, failed=failed)
        db.session.commit()
    return MailRound(reminded, sent, failed)


def purge_uploads() -> int:
    """Remove the files of forms never sent; returns how many."""
    removed = attachments.purge_pending()
    if removed:
        audit.record("uploads.purged", actor="system", removed=removed)
    db.session.commit()
    return removed


def publish_statistics() -> int:
    """Rebuild the monthly rollup every statistics page, export and API answer reads;
    returns its number of rows."""
    rows = statistics.publish()
    audit.record("statistics.published", actor="system", rows=rows)
    db.session.commit()
    return rows


@dataclass(frozen=True)
class RetentionRound:
    erased: int  # cases whose personal data went
    mails: int  # sent mail removed


def apply_retention(due: list[retention.DueInstitution]) -> RetentionRound:
    """Erase the cases `retention.due_for_erasure` found, each in its own transaction and
    checked again under its lock; then old sent mail and ended follow-up sessions."""
    erased = 0
    for item in due:
        for due_case in item.cases:
            erased += retention.erase_if_due(item.institution, due_case.id)
            db.session.commit()
    removed = retention.purge_sent_mail()
    if removed:
        audit.record("mail.purged", actor="system", removed=removed, days=retention.SENT_MAIL_DAYS)
    # Ended follow-up sessions open nothing; their rows go too.
    follow_up_sessions.purge()
    db.session.commit()
    return RetentionRound(erased, removed)


def rotate_key(batch_size: int) -> key_rotation.Rotation:
    """Re-encrypt every encrypted column and file under the first key, in batches, and
    record what was done."""
    result = key_rotation.rotate_all(batch_size)
    audit.record(
        "encryption.key_rotated",
        actor="system",
        keys=len(current_app.config["ENCRYPTION_KEYS"]),
        fields=result.fields_rotated,
        fields_current=result.fields_current,
        fields_changed=result.fields_changed,
        files=result.files,
        files_current=result.files_current,
        files_missing=result.files_missing,
        unreadable=len(result.unreadable),
    )
    db.session.commit()
    return result
