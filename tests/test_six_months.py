"""Six months of one institution's life, on a clock the test controls (issue 15).

Students report through the form twice a week. Three handlers follow up: one is away
for three weeks and comes back, one is disabled, and for three weeks in spring nobody
acknowledges anything. The mail server (aiosmtpd, started by the test) is down for a
whole day. Every morning cron runs `send-mail` and the other jobs.

At the end:
- every report was acknowledged in time, or its handlers were reminded after the
  deadline and, from five working days late, its admins told, while it stayed late;
- every mail the outbox holds reached the SMTP server exactly once (none twice, none
  given up), each with its own Message-ID;
- no reminder went to the handler while they were away, or to the disabled one after.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import sqlalchemy as sa
import time_machine

from stagepact import accounts, jobs, workflow
from stagepact.deadlines import is_working_day, local_date, working_days_after
from stagepact.extensions import db
from stagepact.models import AuditEvent, Case, OutboxMail, User
from stagepact.vocab import Role
from tests.factories import make_institution, make_user

START = date(2027, 1, 4)  # a Monday
DAYS = 182
AWAY = (date(2027, 3, 1), date(2027, 3, 19))  # partly in the weeks nobody acknowledges
DISABLED_ON = date(2027, 4, 5)
NOBODY_ACKS = (date(2027, 3, 8), date(2027, 3, 26))
SMTP_DOWN = date(2027, 5, 12)


def _at(day: date, hour: int) -> datetime:
    """A moment of `day` in the Netherlands (UTC+1 or +2), as UTC for the clock."""
    return datetime(day.year, day.month, day.day, hour - 2, 0)


def _report(client, slug: str, n: int) -> None:
    response = client.post(
        f"/meldpunt/{slug}/melden",
        data={
            "narrative": f"Melding {n}: ze wilden me niet vanwege mijn hoofddoek.",
            "anonymity": "anonymous",
            "reporter_role": "self",
            "contact_preference": "none",
            "grounds": ["religion"],
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:500]


def _handlers_act(day: date, handlers: list[User]) -> None:
    """What the handlers who are there do on a working day: acknowledge what came in three
    working days ago or earlier (not in the weeks nobody does), and give feedback a month
    after acknowledging."""
    present = [h for h in handlers if h.active and not h.is_away(day)]
    if not present or not is_working_day(day):
        return
    for case in db.session.scalars(sa.select(Case).order_by(Case.id)):
        handler = case.assigned_to if case.assigned_to in present else present[0]
        if case.status == "new" and not NOBODY_ACKS[0] <= day <= NOBODY_ACKS[1]:
            if working_days_after(local_date(case.submitted_at), day) >= 3:
                workflow.acknowledge(case, handler)
        elif case.status == "triage" and case.feedback_at is None:
            if (day - local_date(case.acknowledged_at)).days >= 30:
                workflow.start_follow_up(case, handler)
                workflow.send_message(case, handler, "Wat we deden: gesprek.", is_feedback=True)
    db.session.commit()


def test_six_months_of_reports_deadlines_absence_and_a_mail_outage(app, client, smtp):
    institution = make_institution(name="Halfjaarcollege", slug="halfjaar")
    handlers = [
        make_user(Role.HANDLER, institution, email=f"behandelaar{n}@halfjaar.example")
        for n in range(3)
    ]
    away, _steady, leaver = handlers
    admin = make_user(Role.INSTITUTION_ADMIN, institution, email="beheer@halfjaar.example")
    db.session.commit()
    reports = 0
    for offset in range(DAYS):
        day = START + timedelta(days=offset)
        with time_machine.travel(_at(day, 8), tick=False):
            if day == SMTP_DOWN:
                smtp.stop()
            if day == SMTP_DOWN + timedelta(days=1):
                smtp.start()
            if day == AWAY[0] - timedelta(days=3):
                accounts.set_away(away, AWAY[0], AWAY[1], away, day)
            if day == DISABLED_ON:
                accounts.disable(db.session.get(User, leaver.id), admin)
            db.session.commit()
            jobs.send_mail(limit=1000)
            jobs.sbb_dates()
        with time_machine.travel(_at(day, 11), tick=False):
            if day.weekday() in (1, 3):
                _report(client, institution.slug, reports)
                reports += 1
        with time_machine.travel(_at(day, 15), tick=False):
            _handlers_act(day, [db.session.get(User, h.id) for h in handlers])
    with time_machine.travel(_at(START + timedelta(days=DAYS), 8), tick=False):
        jobs.send_mail(limit=1000)

    db.session.expire_all()
    cases = db.session.scalars(sa.select(Case)).all()
    assert len(cases) == reports > 40

    # Every report acknowledged in time, or watched while late.
    events = db.session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.action == "case.overdue_reminder_sent")
        .order_by(AuditEvent.id)
    ).all()
    watched = {}
    for event in events:
        details = json.loads(event.details)
        watched.setdefault(event.case_id, []).append(details)
    late_cases = 0
    for case in cases:
        acked = local_date(case.acknowledged_at) if case.acknowledged_at else None
        if (acked or START + timedelta(days=DAYS)) <= case.ack_due_on:
            continue  # in time, or not yet due when the six months end
        late_cases += 1
        late_by = working_days_after(case.ack_due_on, acked or START + timedelta(days=DAYS))
        reminders = [d for d in watched.get(case.id, []) if d["deadline"] == "acknowledgement"]
        assert reminders, f"{case.number} was late and nobody was reminded"
        # The first reminder comes the morning after the deadline (a weekend day counts 0).
        assert reminders[0]["working_days_late"] <= 1, (case.number, reminders)
        if late_by > 5:
            assert any(d["admins_told"] for d in reminders), f"{case.number}: admins not told"
    assert late_cases >= 5  # the weeks nobody acknowledged

    # Every mail reached the server exactly once.
    mails = db.session.scalars(sa.select(OutboxMail)).all()
    assert [m for m in mails if m.sent_at is None or m.given_up_at is not None] == []
    received = [message["Message-ID"] for message in smtp.messages]
    assert sorted(received) == sorted(m.message_id for m in mails)
    assert len(set(received)) == len(received)
    assert any(m.attempts > 1 for m in mails)  # the day the server was down

    # Nobody reminded while away, or after being disabled.
    for mail in mails:
        sent_on = local_date(mail.sent_at)
        if "reminder" in mail.purpose or "overdue" in mail.purpose:
            if mail.recipient == away.email:
                assert not AWAY[0] <= local_date(mail.created_at) <= AWAY[1], mail.purpose
            if mail.recipient == leaver.email:
                assert local_date(mail.created_at) < DISABLED_ON, (mail.purpose, sent_on)
    admins_told = [
        m for m in mails if m.purpose.startswith("admin_") and m.recipient == admin.email
    ]
    assert admins_told
