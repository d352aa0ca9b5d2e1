"""SBB's own work has deadlines (issue 15): an investigation is started within 10 working
days of arriving and decided within 3 months of starting. SBB is reminded the working
day before, then every second working day while overdue; the queue marks and filters
what is overdue."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
import time_machine

from stagepact import deadlines, investigations, workflow
from stagepact.deadlines import add_months, add_working_days, local_date
from stagepact.extensions import db
from stagepact.models import OutboxMail
from stagepact.reminders import queue_sbb_reminders
from stagepact.vocab import Role
from tests.factories import make_case, make_company, make_institution, make_user
from tests.helpers import audit_events, page_text, reloaded


def _escalated():
    institution = make_institution()
    handler = make_user(Role.HANDLER, institution)
    reviewers = [make_user(Role.SBB_REVIEWER) for _ in range(2)]
    company = make_company()
    case, _code = make_case(institution, consent_sbb=True, company_id=company.id)
    workflow.acknowledge(case, handler)
    investigation = workflow.escalate(case, handler, "Samenvatting voor SBB.", False)
    db.session.commit()
    return investigation, reviewers


def _purposes() -> list[str]:
    return [m.purpose for m in db.session.scalars(sa.select(OutboxMail).order_by(OutboxMail.id))]


def test_an_investigation_is_to_be_started_within_ten_working_days_and_decided_within_three_months():
    investigation, (reviewer, _other) = _escalated()
    received = local_date(investigation.created_at)
    assert investigation.start_due_on == add_working_days(received, 10)
    assert investigation.due_on == investigation.start_due_on

    investigations.start(investigation, reviewer)
    db.session.commit()

    started = local_date(reloaded(investigation).started_at)
    assert reloaded(investigation).decide_due_on == add_months(started, 3)
    assert reloaded(investigation).due_on == reloaded(investigation).decide_due_on


def test_sbb_is_reminded_before_and_again_while_an_investigation_is_overdue():
    investigation, reviewers = _escalated()
    due = investigation.start_due_on
    reminded = {}
    day = due - timedelta(days=6)
    while day <= add_working_days(due, 5):
        reminded[day] = queue_sbb_reminders(day)
        db.session.commit()
        day += timedelta(days=1)

    on_days = [d for d, n in reminded.items() if n]
    assert on_days[0] == deadlines.subtract_working_days(due, 1)  # the working day before
    assert on_days[1:] == [add_working_days(due, n) for n in (1, 3, 5)]  # then every second
    purposes = _purposes()
    sent_to_sbb = [p for p in purposes if p.startswith("sbb_start")]
    assert sent_to_sbb.count("sbb_start_reminder") == len(reviewers)
    assert sent_to_sbb.count("sbb_start_overdue") == 3 * len(reviewers)
    events = audit_events("investigation.reminder_sent")
    assert [('"overdue": true' in e.details) for e in events] == [False, True, True, True]


def test_starting_stops_the_start_reminders_and_the_decide_deadline_takes_over():
    investigation, (reviewer, _other) = _escalated()
    late = add_working_days(investigation.start_due_on, 1)
    assert queue_sbb_reminders(late) == 1
    investigations.start(investigation, reviewer)
    db.session.commit()

    assert queue_sbb_reminders(add_working_days(late, 4)) == 0
    decide_due = reloaded(investigation).decide_due_on
    assert queue_sbb_reminders(add_working_days(decide_due, 1)) == 1
    assert _purposes()[-1] == "sbb_decide_overdue"


def test_the_queue_marks_and_filters_what_is_overdue(client, auth):
    late, (reviewer, _other) = _escalated()
    on_time, _reviewers = _escalated()
    on_time.start_due_on = deadlines.today() + timedelta(days=30)
    late.start_due_on = deadlines.today() - timedelta(days=1)
    db.session.commit()
    auth.login(reviewer)

    page = page_text(client.get("/sbb/"))
    assert "Starten te laat" in page and late.reference in page and on_time.reference in page

    only_late = page_text(client.get("/sbb/", query_string={"overdue": "y"}))
    assert late.reference in only_late and on_time.reference not in only_late
    detail = page_text(client.get(f"/sbb/onderzoeken/{late.id}"))
    assert "Starten vóór" in detail and "te laat" in detail


def test_the_send_mail_job_sends_sbb_its_reminders(runner):
    investigation, reviewers = _escalated()
    with time_machine.travel(add_working_days(investigation.start_due_on, 1), tick=False):
        result = runner.invoke(args=["stagepact", "send-mail"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    sent = [
        m for m in db.session.scalars(sa.select(OutboxMail)) if m.purpose.startswith("sbb_start")
    ]
    assert sorted(m.recipient for m in sent) == sorted(r.email for r in reviewers)
    assert all(m.sent_at is not None for m in sent)
