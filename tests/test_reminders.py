"""Handlers are reminded once before each deadline, by the cron run of send-mail."""

from datetime import timedelta

import sqlalchemy as sa

from stagepact import workflow
from stagepact.deadlines import add_working_days, local_date
from stagepact.extensions import db
from stagepact.models import AuditEvent, OutboxMail
from stagepact.reminders import queue_due_reminders
from tests.factories import make_case, make_institution, make_user


def _reminders(purpose: str) -> list[OutboxMail]:
    return db.session.scalars(sa.select(OutboxMail).where(OutboxMail.purpose == purpose)).all()


def test_acknowledgement_reminder_comes_the_working_day_before_and_only_once():
    institution = make_institution()
    first, second = make_user(institution=institution), make_user(institution=institution)
    case, _ = make_case(institution)
    day_before = add_working_days(local_date(case.submitted_at), institution.ack_working_days - 2)

    assert queue_due_reminders(day_before) == 0
    assert queue_due_reminders(add_working_days(day_before, 1)) == 1
    assert queue_due_reminders(case.ack_due_on + timedelta(days=3)) == 0

    mails = _reminders("handler_acknowledgement_reminder")
    assert sorted(m.recipient for m in mails) == sorted([first.email, second.email])
    assert case.number in mails[0].body and case.narrative not in mails[0].body
    events = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "case.reminder_sent")
    )
    assert [e.case_id for e in events] == [case.id]


def test_feedback_reminder_goes_to_the_assigned_handler_before_the_deadline():
    institution = make_institution()
    handler, colleague = make_user(institution=institution), make_user(institution=institution)
    case, _ = make_case(institution)
    workflow.acknowledge(case, handler)
    workflow.start_follow_up(case, handler)

    assert queue_due_reminders(case.feedback_due_on - timedelta(days=15)) == 0
    assert queue_due_reminders(case.feedback_due_on - timedelta(days=14)) == 1

    mails = _reminders("handler_feedback_reminder")
    assert [m.recipient for m in mails] == [handler.email]
    assert colleague.email not in [m.recipient for m in mails]


def test_no_feedback_reminder_once_the_student_had_feedback_or_the_case_closed():
    institution = make_institution()
    handler = make_user(institution=institution)
    fed_back, _ = make_case(institution)
    closed, _ = make_case(institution)
    for case in (fed_back, closed):
        workflow.acknowledge(case, handler)
        workflow.start_follow_up(case, handler)
    workflow.send_message(fed_back, handler, "Dit hebben we gedaan.", is_feedback=True)
    workflow.close(closed, handler, "resolved", "Afgerond.")

    assert queue_due_reminders(fed_back.feedback_due_on + timedelta(days=30)) == 0


def test_send_mail_queues_reminders_before_sending(runner):
    institution = make_institution()
    make_user(institution=institution)
    case, _ = make_case(institution)
    case.ack_due_on = local_date(case.submitted_at) - timedelta(days=10)
    db.session.commit()

    result = runner.invoke(args=["stagepact", "send-mail"])

    assert result.exit_code == 0, result.output
    assert "herinnering" in result.output
    assert all(m.sent_at is not None for m in _reminders("handler_acknowledgement_reminder"))
