"""Scheduled work is safe to run twice at once and is watched (issue 15).

- A job holds a lease while it runs: a second run at the same moment does nothing and
  says so; a lease a killed run left behind runs out.
- Each run records when it ran and how it ended; `status` exits 1 when a job failed,
  never ran, or has not run for twice its interval.
- Reminders are marked in the statement that chooses them, and every mail is locked while
  it is sent: two `send-mail` processes at once, on PostgreSQL, deliver each mail once.
- A server that hangs costs one timeout per run; a permanent refusal gives a mail up; a
  mail keeps its Message-ID over its attempts.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from stagepact import jobs, outbox, reminders
from stagepact.deadlines import today
from stagepact.extensions import db
from stagepact.models import Case, JobRun, OutboxMail, utcnow
from stagepact.vocab import Role
from tests.factories import make_case, make_institution, make_user
from tests.helpers import audit_events, count

ROOT = Path(__file__).resolve().parent.parent


def stagepact(runner, *args: str):
    result = runner.invoke(args=["stagepact", *args])
    db.session.expire_all()
    return result


def _run_of(name: str) -> JobRun | None:
    db.session.expire_all()
    return db.session.get(JobRun, name)


# --- Leases and the record of each run --------------------------------------------------


def test_a_run_records_when_it_ran_and_that_it_went_well(runner):
    result = stagepact(runner, "purge-uploads")

    assert result.exit_code == 0, result.output
    run = _run_of("purge-uploads")
    assert run.outcome == "ok" and run.held_until is None
    assert run.started_at <= run.finished_at == run.succeeded_at
    assert run.detail == "removed=0 codes_forgotten=0"


def test_a_second_run_while_the_first_holds_the_job_does_nothing_and_exits_zero(runner):
    db.session.add(JobRun(name="send-mail", held_until=utcnow() + timedelta(minutes=5)))
    outbox.queue("een@example.org", "Nieuws", "Hallo", purpose="test")
    db.session.commit()

    result = stagepact(runner, "send-mail")

    assert result.exit_code == 0, result.output
    assert "send-mail draait al" in result.output
    assert db.session.scalar(sa.select(OutboxMail.sent_at)) is None
    assert _run_of("send-mail").started_at is None  # the held run's record is untouched


def test_a_lease_a_killed_run_left_behind_runs_out(runner):
    db.session.add(JobRun(name="send-mail", held_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()

    result = stagepact(runner, "send-mail")

    assert result.exit_code == 0, result.output
    assert _run_of("send-mail").outcome == "ok"


def test_a_job_that_raises_is_recorded_as_failed_with_the_error_type_only(runner, monkeypatch):
    def broken():
        raise RuntimeError("geheim: sanne@example.org")

    monkeypatch.setattr(jobs.statistics, "publish", broken)

    result = stagepact(runner, "publish-statistics")

    assert result.exit_code != 0
    run = _run_of("publish-statistics")
    assert run.outcome == "failed" and run.detail == "RuntimeError"
    assert run.held_until is None  # the next run may start


def test_status_names_what_never_ran_failed_or_is_late_and_exits_one(runner):
    for name in jobs.JOBS:
        assert stagepact(runner, name).exit_code == 0

    assert stagepact(runner, "status").exit_code == 0

    db.session.get(JobRun, "purge-uploads").started_at = utcnow() - timedelta(hours=3)
    db.session.get(JobRun, "retention").outcome = "failed"
    db.session.commit()
    result = stagepact(runner, "status")

    assert result.exit_code == 1
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert "te lang niet gedraaid" in lines["purge-uploads"]
    assert "mislukt" in lines["retention"]
    assert "in orde" in lines["send-mail"] and "in orde" in lines["publish-statistics"]
    assert "2 geplande taak/taken hebben aandacht nodig" in result.output


def test_status_on_a_new_installation_says_the_jobs_never_ran(runner):
    result = stagepact(runner, "status")

    assert result.exit_code == 1
    assert result.output.count("heeft nog nooit gedraaid") == len(jobs.JOBS)


# --- Reminders chosen and marked at once -----------------------------------------------


def _due_cases(n: int) -> list[Case]:
    institution = make_institution()
    make_user(Role.HANDLER, institution)
    cases = [make_case(institution)[0] for _ in range(n)]
    for case in cases:
        case.ack_due_on = today()
    db.session.commit()
    return cases


def test_a_reminder_is_queued_once_however_often_the_job_runs():
    _due_cases(3)
    before = count(OutboxMail)

    assert reminders.queue_due_reminders(today()) == 3
    db.session.commit()
    assert reminders.queue_due_reminders(today()) == 0

    assert count(OutboxMail) - before == 3
    assert len(audit_events("case.reminder_sent")) == 3


def _postgresql(app) -> bool:
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")


def test_two_reminder_runs_at_the_same_moment_queue_each_reminder_once(app):
    """Without the lease, on PostgreSQL: the marking UPDATE of one run waits for the other's
    row locks and then finds the cases marked."""
    if not _postgresql(app):
        pytest.skip("concurrent transactions need PostgreSQL")
    _due_cases(40)
    before = count(OutboxMail)
    start = threading.Barrier(2)
    counts = []

    def run():
        with app.app_context():
            start.wait()
            counts.append(reminders.queue_due_reminders(today()))
            db.session.commit()
            db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(counts)[1] > 0 and sum(counts) == 40
    assert count(OutboxMail) - before == 40


def test_two_send_mail_processes_at_once_deliver_every_mail_once(app, smtp):
    if not _postgresql(app):
        pytest.skip("two processes on one database need PostgreSQL")
    cases = _due_cases(30)
    for n in range(150):
        outbox.queue(f"ontvanger{n}@example.org", f"Mail {n}", "Hallo", purpose="test")
    db.session.commit()
    expected = count(OutboxMail) + len(cases)  # the reminders the runs will queue
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "RECEIPT_PEPPER": app.config["RECEIPT_PEPPER"],
        "ATTACHMENT_DIR": app.config["ATTACHMENT_DIR"],
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp.port),
        "PUBLIC_BASE_URL": app.config["PUBLIC_BASE_URL"],
    }
    command = [sys.executable, "-m", "flask", "--app", "app", "stagepact", "send-mail"]
    command += ["--limit", "1000"]
    processes = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)  # noqa: S603
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120)[0] for process in processes]

    assert [p.returncode for p in processes] == [0, 0], outputs
    delivered = [tuple(envelope.rcpt_tos) for envelope in smtp.collector.envelopes]
    assert len(delivered) == expected
    subjects = [message["Subject"] for message in smtp.messages]
    assert len(set(subjects)) == len(subjects)  # each names its own mail or case
    ids = [message["Message-ID"] for message in smtp.messages]
    assert len(set(ids)) == len(ids) == expected
    db.session.expire_all()
    assert count(OutboxMail, OutboxMail.sent_at.is_(None)) == 0


# --- A server that hangs, refuses, or answers late ---------------------------------------


class _SilentServer:
    """Accepts connections and never says a word, like a mail server that hangs."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.port = self.socket.getsockname()[1]
        self.accepted = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while True:
            try:
                connection, _address = self.socket.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def close(self):
        self.socket.close()
        for connection in self.accepted:
            connection.close()


@pytest.fixture
def silent_server(app):
    from stagepact.extensions import mail

    server = _SilentServer()
    keys = ("MAIL_SERVER", "MAIL_PORT", "MAIL_TIMEOUT", "MAIL_SUPPRESS_SEND")
    saved = {key: app.config.get(key) for key in keys}
    app.config.update(
        MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port, MAIL_TIMEOUT=1, MAIL_SUPPRESS_SEND=False
    )
    mail.init_app(app)
    yield server
    server.close()
    app.config.update(saved)
    mail.init_app(app)


def test_a_server_that_hangs_costs_one_timeout_and_the_run_stops(silent_server):
    for n in range(5):
        outbox.queue(f"{n}@example.org", f"Mail {n}", "Hallo", purpose="test")
    db.session.commit()

    began = time.monotonic()
    sent, failed = outbox.send_due()
    took = time.monotonic() - began

    assert (sent, failed) == (0, 1)
    assert took < 4  # one timeout of 1 s, not five
    db.session.expire_all()
    tried = db.session.scalars(sa.select(OutboxMail.attempts).order_by(OutboxMail.id)).all()
    assert tried == [1, 0, 0, 0, 0]


class _Refusing:
    """An aiosmtpd handler that refuses one recipient for good (550) and takes the rest."""

    def __init__(self, refused: str):
        self.refused = refused
        self.envelopes = []

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
        if address == self.refused:
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.envelopes.append(envelope)
        return "250 Message accepted"


def test_a_permanent_refusal_gives_the_mail_up_and_the_others_go(app, smtp):
    smtp.stop()
    smtp.collector = _Refusing("weg@example.org")
    smtp.start()
    outbox.queue("weg@example.org", "Weg", "Hallo", purpose="test")
    outbox.queue("er@example.org", "Er", "Hallo", purpose="test")
    db.session.commit()

    assert outbox.send_due() == (1, 1)

    db.session.expire_all()
    refused = db.session.scalar(sa.select(OutboxMail).where(OutboxMail.subject == "Weg"))
    assert refused.given_up_at is not None and refused.sent_at is None
    assert refused.last_error == "SMTP 550 SMTPRecipientsRefused"
    assert outbox.send_due(now=utcnow() + timedelta(days=2)) == (0, 0)  # never tried again
    assert [e.rcpt_tos for e in smtp.collector.envelopes] == [["er@example.org"]]


def test_a_mail_failing_for_longer_than_the_give_up_time_is_given_up(app, smtp):
    smtp.stop()
    item = outbox.queue("later@example.org", "Later", "Hallo", purpose="test")
    item.created_at = utcnow() - timedelta(hours=app.config["MAIL_GIVE_UP_HOURS"] + 1)
    db.session.commit()

    assert outbox.send_due() == (0, 1)

    db.session.expire_all()
    assert db.session.get(OutboxMail, item.id).given_up_at is not None


def test_a_mail_keeps_its_message_id_over_its_attempts(app, smtp):
    item = outbox.queue("twee@example.org", "Twee pogingen", "Hallo", purpose="test")
    db.session.commit()
    message_id = item.message_id
    assert message_id.startswith("<") and message_id.endswith(">")

    smtp.stop()
    assert outbox.send_due() == (0, 1)
    smtp.start()
    db.session.expire_all()
    assert outbox.send_due(now=db.session.get(OutboxMail, item.id).next_attempt_at) == (1, 0)

    assert [message["Message-ID"] for message in smtp.messages] == [message_id]


def test_the_platform_admin_sees_jobs_needing_attention_and_given_up_mail(client, auth):
    admin = make_user(Role.PLATFORM_ADMIN)
    db.session.add(JobRun(name="retention", started_at=utcnow(), outcome="failed", detail="X"))
    item = outbox.queue("verdwenen.student@example.org", "Nieuws", "Geheim", purpose="test")
    item.given_up_at, item.last_error = utcnow(), "SMTP 550 SMTPRecipientsRefused"
    db.session.commit()
    assert auth.login(admin).status_code == 302

    page = client.get("/beheer/").get_data(as_text=True)

    assert "<code>flask --app app stagepact status</code>" in page
    assert page.count("Aandacht nodig") == len(jobs.JOBS)  # one failed, three never ran
    assert "de laatste keer mislukt (X)" in page
    assert "1 mail is opgegeven" in page and "SMTP 550 SMTPRecipientsRefused" in page
    assert "verdwenen.student" not in page and "Geheim" not in page


def test_a_handlers_mail_that_bounces_for_good_is_told_to_the_institution_admins(app, smtp):
    institution = make_institution()
    handler = make_user(Role.HANDLER, institution, email="weg@example.org")
    admin = make_user(Role.INSTITUTION_ADMIN, institution, email="beheer@example.org")
    case, _code = make_case(institution, narrative="GEHEIM-VERHAAL over de stage")
    db.session.commit()  # the handlers are told of the new report
    smtp.stop()
    smtp.collector = _Refusing("weg@example.org")
    smtp.start()

    assert outbox.send_due() == (0, 1)
    db.session.commit()
    assert outbox.send_due() == (1, 0)  # the notice to the admin

    [envelope] = smtp.collector.envelopes
    assert envelope.rcpt_tos == [admin.email]
    [message] = smtp.messages
    body = message.get_content()
    assert handler.email in body and "SMTP 550" in body
    assert "GEHEIM" not in body and case.number not in body
