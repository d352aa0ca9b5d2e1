"""The mail outbox.

Mail is written to the outbox in the same transaction as the change that
causes it, and only `send_due` (the `send-mail` command, run by cron) hands it
to the mail server. A server that is down costs a retry later, never a mail.

A mail can also be queued before anyone knows what it says, or whether it goes at all
(`queue_deferred`): its composer, registered for its purpose, writes it (or drops it)
when `send-mail` runs. The forgot-password form uses this, so that its request does the
same work whether or not the address has an account.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime, timedelta

import click
import sqlalchemy as sa
from flask import current_app
from flask_mail import Message as MailMessage

from .extensions import db, mail
from .models import OutboxMail, utcnow

MAX_BACKOFF = timedelta(hours=6)

# purpose -> composer(item) -> bool: fills in a deferred mail, or says it is not to be sent.
_COMPOSERS: dict[str, Callable[[OutboxMail], bool]] = {}


def composer(purpose: str):
    """Register the function that writes deferred mails of `purpose` (see `compose_pending`)."""

    def register(function: Callable[[OutboxMail], bool]):
        _COMPOSERS[purpose] = function
        return function

    return register


def queue(recipient: str, subject: str, body: str, purpose: str, attachments=()) -> OutboxMail:
    """A mail to send later; `attachments` are evidence files, read (decrypted) when sent."""
    item = OutboxMail(recipient=recipient, subject=subject, body=body, purpose=purpose)
    item.attachments = list(attachments)
    db.session.add(item)
    return item


def queue_deferred(recipient: str, purpose: str) -> OutboxMail:
    """A mail its composer writes at the next `send-mail`, or drops (stored encrypted, as
    every mail; dropped rows are deleted)."""
    return queue(recipient, "", "", purpose)


def compose_pending() -> int:
    """Let each deferred mail's composer write it or drop it; returns how many were dropped."""
    dropped = 0
    pending = db.session.scalars(
        sa.select(OutboxMail)
        .where(OutboxMail.purpose.in_(list(_COMPOSERS)), OutboxMail.sent_at.is_(None))
        .order_by(OutboxMail.id)
        .with_for_update(skip_locked=True)
    ).all()
    for item in pending:
        if not _COMPOSERS[item.purpose](item):
            db.session.delete(item)
            dropped += 1
        db.session.commit()
    return dropped


def backoff(attempts: int) -> timedelta:
    """1, 2, 4, 8 ... minutes after each failure, at most six hours."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def _deliver(item: OutboxMail) -> None:
    from . import attachments as files

    if not current_app.config.get("MAIL_SERVER"):
        names = "".join(f"[{a.original_name}]\n" for a in item.attachments)
        click.echo(f"--- mail to {item.recipient}: {item.subject}\n{item.body}\n{names}---")
        return
    message = MailMessage(
        subject=item.subject,
        recipients=[item.recipient],
        body=item.body,
        sender=current_app.config["MAIL_DEFAULT_SENDER"],
    )
    for attachment in item.attachments:
        message.attach(
            attachment.original_name, files.mail_content_type(attachment), files.read(attachment)
        )
    mail.send(message)


@contextmanager
def _socket_timeout(seconds: float):
    """Flask-Mail opens smtplib connections without a timeout; a silent server must not hang cron."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def send_due(now: datetime | None = None, limit: int = 200) -> tuple[int, int]:
    """Send what is due; return (sent, failed). Each mail commits on its own."""
    compose_pending()
    with _socket_timeout(current_app.config["MAIL_TIMEOUT"]):
        return _send_due(now or utcnow(), limit)


def _send_due(now: datetime, limit: int) -> tuple[int, int]:
    sent = failed = 0
    due_ids = db.session.scalars(
        sa.select(OutboxMail.id)
        .where(OutboxMail.sent_at.is_(None), OutboxMail.next_attempt_at <= now)
        .order_by(OutboxMail.next_attempt_at, OutboxMail.id)
        .limit(limit)
    ).all()
    for item_id in due_ids:
        # Lock the row, so that two senders never send the same mail twice.
        item = db.session.scalar(
            sa.select(OutboxMail)
            .where(OutboxMail.id == item_id, OutboxMail.sent_at.is_(None))
            .with_for_update(skip_locked=True)
        )
        if item is None:
            db.session.rollback()
            continue
        try:
            _deliver(item)
        except Exception as exc:  # any transport error: keep the mail, retry later
            item.attempts += 1
            item.last_error = type(exc).__name__[:200]
            item.next_attempt_at = now + backoff(item.attempts)
            failed += 1
        else:
            item.attempts += 1
            item.sent_at = utcnow()
            item.last_error = None
            sent += 1
        db.session.commit()
    return sent, failed
