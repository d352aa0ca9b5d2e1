"""The outbox hands mail to a real SMTP server, keeps it when the server is down, and leaks nothing."""

from __future__ import annotations

import email
from datetime import timedelta
from email import policy

import sqlalchemy as sa

from stagepact import outbox, workflow
from stagepact.extensions import db
from stagepact.models import Case, OutboxMail, utcnow
from stagepact.outbox import MAX_BACKOFF, backoff, send_due
from tests.factories import make_institution, make_user


def _body(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def test_send_due_delivers_a_queued_mail_and_marks_it_sent(smtp):
    item = outbox.queue(
        "behandelaar@voorbeeld.nl", "Nieuwe melding 2026-0001", "Er is een melding.", "test"
    )
    db.session.commit()

    assert send_due() == (1, 0)

    assert len(smtp.collector.envelopes) == 1
    envelope = smtp.collector.envelopes[0]
    assert envelope.rcpt_tos == ["behandelaar@voorbeeld.nl"]
    message = smtp.messages[0]
    assert message["Subject"] == "Nieuwe melding 2026-0001"
    assert message["To"] == "behandelaar@voorbeeld.nl"
    assert _body(message).strip() == "Er is een melding."
    db.session.expire_all()
    item = db.session.get(OutboxMail, item.id)
    assert item.sent_at is not None and item.attempts == 1 and item.last_error is None


def test_second_send_due_sends_nothing_again(smtp):
    outbox.queue("behandelaar@voorbeeld.nl", "Eén keer", "Eén keer.", "test")
    db.session.commit()

    assert send_due() == (1, 0)
    assert send_due() == (0, 0)
    assert send_due(now=utcnow() + timedelta(days=2)) == (0, 0)

    assert len(smtp.collector.envelopes) == 1


def test_server_down_keeps_the_mail_and_backs_off(smtp):
    recipient = "ysolde.backoff@voorbeeld.nl"
    item = outbox.queue(recipient, "Nieuws", "Er is nieuws over Ysolde.", "test")
    db.session.commit()
    smtp.stop()
    now = utcnow()
    delays = []

    for attempt in range(1, 6):
        assert send_due(now=now) == (0, 1)
        db.session.expire_all()
        item = db.session.get(OutboxMail, item.id)
        assert item.sent_at is None
        assert item.attempts == attempt
        assert item.last_error == "ConnectionRefusedError"
        delays.append(item.next_attempt_at - now)
        # Nothing is tried before the next attempt is due.
        assert send_due(now=item.next_attempt_at - timedelta(seconds=1)) == (0, 0)
        now = item.next_attempt_at

    # Counted from each failure (a moment after the run began), doubling each time.
    expected = [timedelta(minutes=m) for m in (1, 2, 4, 8, 16)]
    assert all(
        timedelta(0) <= d - e < timedelta(seconds=5) for d, e in zip(delays, expected, strict=True)
    )
    assert "ysolde" not in item.last_error.lower()
    assert smtp.collector.envelopes == []


def test_backoff_grows_and_is_capped():
    assert [backoff(n) for n in range(1, 6)] == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16)]
    assert backoff(9) == timedelta(minutes=256)
    assert backoff(10) == MAX_BACKOFF == timedelta(hours=6)
    assert backoff(40) == MAX_BACKOFF


def test_mail_is_delivered_exactly_once_when_the_server_comes_back(smtp):
    item = outbox.queue("terug@voorbeeld.nl", "Terug", "De server is terug.", "test")
    db.session.commit()
    smtp.stop()
    now = utcnow()
    assert send_due(now=now) == (0, 1)
    db.session.expire_all()
    assert send_due(now=db.session.get(OutboxMail, item.id).next_attempt_at) == (0, 1)

    smtp.start()
    db.session.expire_all()
    due = db.session.get(OutboxMail, item.id).next_attempt_at
    assert send_due(now=due - timedelta(seconds=1)) == (0, 0)
    assert smtp.collector.envelopes == []
    assert send_due(now=due) == (1, 0)
    assert send_due(now=due + timedelta(days=1)) == (0, 0)

    assert len(smtp.collector.envelopes) == 1
    assert smtp.collector.envelopes[0].rcpt_tos == ["terug@voorbeeld.nl"]
    db.session.expire_all()
    item = db.session.get(OutboxMail, item.id)
    assert item.sent_at is not None and item.attempts == 3 and item.last_error is None


def test_mail_to_the_student_holds_no_narrative_message_or_receipt_code(client, smtp):
    narrative = "Mijn verhaal Vuurvlinder-k9: de chef zei dat mijn huidskleur niet past."
    handler_message = "Vraag van school Lantaarnpaal-k9: wanneer was dat?"
    student_address = "student.k9@voorbeeld.nl"
    institution = make_institution()
    handler = make_user(institution=institution)
    db.session.commit()
    response = client.post(
        f"/meldpunt/{institution.slug}/melden",
        data={
            "narrative": narrative,
            "reporter_role": "self",
            "anonymity": "anonymous",
            "contact_preference": "none",
        },
    )
    assert response.status_code == 200
    receipt = response.get_data(as_text=True)
    code = receipt.split('class="receipt-code"', 1)[1].split(">", 1)[1].split("<", 1)[0]
    digits = code.replace(" ", "")
    assert len(digits) == 16
    client.post("/volgen/melding/meldingen-per-mail", data={"notify_email": student_address})
    case = db.session.scalar(sa.select(Case))
    workflow.acknowledge(case, handler)
    workflow.start_follow_up(case, handler)
    workflow.send_message(case, handler, handler_message)
    db.session.commit()

    sent, failed = send_due()

    assert failed == 0 and sent >= 4
    to_student = [e for e in smtp.collector.envelopes if e.rcpt_tos == [student_address]]
    assert len(to_student) == 3  # acknowledged, follow-up started, message
    for envelope in smtp.collector.envelopes:
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        text = f"{message['Subject']}\n{_body(message)}"
        compact = "".join(ch for ch in text if ch.isalnum())
        assert "Vuurvlinder" not in text
        assert "Lantaarnpaal" not in text
        assert digits not in compact and code not in text
    student_text = _body(email.message_from_bytes(to_student[0].content, policy=policy.default))
    assert "ontvangstcode" in student_text  # the mail tells where to read the news
