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

import smtplib
import socket
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime, timedelta
from email.utils import make_msgid

import click
import sqlalchemy as sa
from flask import current_app
from flask_mail import Message as MailMessage

from .extensions import db, mail
from .models import OutboxMail, utcnow

MAX_BACKOFF = timedelta(hours=6)

# purpose -> composer(item) -> bool: fills in a deferred mail, or says it is not to be sent.
_COMPOSERS: dict[str, Callable[[OutboxMail], bool]] = {}
# Called with each mail that is given up, so that someone is told by another route.
_WHEN_GIVEN_UP: list[Callable[[OutboxMail], None]] = []


def when_given_up(function: Callable[[OutboxMail], None]):
    """Register what happens when a mail is given up (see `notify`)."""
    _WHEN_GIVEN_UP.append(function)
    return function


def composer(purpose: str):
    """Register the function that writes deferred mails of `purpose` (see `compose_pending`)."""

    def register(function: Callable[[OutboxMail], bool]):
        _COMPOSERS[purpose] = function
        return function

    return register


def queue(
    recipient: str,
    subject: str,
    body: str,
    purpose: str,
    attachments=(),
    institution_id: int | None = None,
) -> OutboxMail:
    """A mail to send later; `attachments` are evidence files, read (decrypted) when sent.
    `institution_id` names the institution a mail to its staff is about."""
    item = OutboxMail(
        recipient=recipient,
        subject=subject,
        body=body,
        purpose=purpose,
        message_id=_message_id(),
        institution_id=institution_id,
    )
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


def _message_id() -> str:
    """A Message-ID of the sender's domain, made once per mail and sent with every attempt."""
    sender = current_app.config.get("MAIL_DEFAULT_SENDER") or ""
    sender = sender[1] if isinstance(sender, tuple) else sender
    domain = sender.rpartition("@")[2].strip(" >") or "stagepact.invalid"
    return make_msgid("outbox", domain=domain)


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
    if item.message_id is None:  # queued before mail kept its Message-ID
        item.message_id = _message_id()
    message.msgId = item.message_id
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
    """Send what is due; return (sent, failed). Each mail commits on its own.

    The run stops at the first sign that the server is away (it refused the connection,
    hung up or did not answer in MAIL_TIMEOUT), and after MAIL_RUN_SECONDS in all: a
    server that hangs costs one timeout, not one per mail. A refusal of one mail
    (another 4xx) leaves the others to be tried; a permanent refusal (5xx), or failing
    for longer than MAIL_GIVE_UP_HOURS, gives the mail up (`given_up`).
    """
    compose_pending()
    with _socket_timeout(current_app.config["MAIL_TIMEOUT"]):
        return _send_due(now or utcnow(), limit)


def _server_away(exc: Exception) -> bool:
    """Whether `exc` says the server is away (refused or dropped the connection, did not
    answer, or is shutting down: 421), not that it refused this one mail."""
    if isinstance(exc, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError):
        return True
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code == 421
    if isinstance(exc, smtplib.SMTPException):
        return False
    return isinstance(exc, OSError)  # refused, timed out, no route, no such host


def _send_due(now: datetime, limit: int) -> tuple[int, int]:
    sent = failed = 0
    started = time.monotonic()
    budget_ends = started + current_app.config["MAIL_RUN_SECONDS"]
    due_ids = db.session.scalars(
        sa.select(OutboxMail.id)
        .where(
            OutboxMail.sent_at.is_(None),
            OutboxMail.given_up_at.is_(None),
            OutboxMail.next_attempt_at <= now,
        )
        .order_by(OutboxMail.next_attempt_at, OutboxMail.id)
        .limit(limit)
    ).all()
    for item_id in due_ids:
        if time.monotonic() > budget_ends:
            break
        # Lock the row, so that two senders never send the same mail twice.
        item = db.session.scalar(
            sa.select(OutboxMail)
            .where(
                OutboxMail.id == item_id,
                OutboxMail.sent_at.is_(None),
                OutboxMail.given_up_at.is_(None),
            )
            .with_for_update(skip_locked=True)
        )
        if item is None:
            db.session.rollback()
            continue
        item.attempts += 1
        try:
            _deliver(item)
        except Exception as exc:  # any transport error: keep the mail, retry later
            # The back-off counts from this failure, on the run's clock.
            _failed(item, exc, now + timedelta(seconds=time.monotonic() - started))
            failed += 1
            db.session.commit()
            if _server_away(exc):
                break  # the server is away: the rest waits for the next run
            continue
        item.sent_at = utcnow()
        item.last_error = None
        sent += 1
        db.session.commit()
    return sent, failed


def _failed(item: OutboxMail, exc: Exception, now: datetime) -> None:
    """Record a failed attempt at `now`: back off from then, or give up for good."""
    code = getattr(exc, "smtp_code", None)
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        code = next(iter(exc.recipients.values()))[0]
    item.last_error = (f"SMTP {code} " if code else "") + type(exc).__name__[:150]
    permanent = isinstance(code, int) and 500 <= code < 600
    too_long = now - item.created_at > timedelta(hours=current_app.config["MAIL_GIVE_UP_HOURS"])
    if permanent or too_long:
        item.given_up_at = now
        for tell in _WHEN_GIVEN_UP:
            tell(item)
    else:
        item.next_attempt_at = now + backoff(item.attempts)


def given_up(limit: int = 50) -> tuple[int, list[OutboxMail]]:
    """How many mails were given up, and the newest `limit` of them: for the platform
    admin's list, which shows when, what kind and why, never to whom or what."""
    total = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(OutboxMail)
        .where(OutboxMail.given_up_at.is_not(None))
    )
    newest = db.session.scalars(
        sa.select(OutboxMail)
        .where(OutboxMail.given_up_at.is_not(None))
        .order_by(OutboxMail.given_up_at.desc(), OutboxMail.id.desc())
        .limit(limit)
    ).all()
    return total, list(newest)
