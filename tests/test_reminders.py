"""Handlers are reminded once before each deadline, by the cron run of send-mail."""

import json
from datetime import date, timedelta

import sqlalchemy as sa

from stagepact import workflow
from stagepact.deadlines import add_working_days, local_date
from stagepact.extensions import db
from stagepact.models import AuditEvent, OutboxMail
from stagepact.reminders import queue_due_reminders, queue_overdue_reminders
from stagepact.vocab import Role
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


# --- Overdue: reminded again until someone acts, and the admins told when it drags on -------


def _overdue_world():
    institution = make_institution(overdue_repeat_days=2, overdue_admin_days=5)
    handler, colleague = make_user(institution=institution), make_user(institution=institution)
    admin = make_user(Role.INSTITUTION_ADMIN, institution)
    make_user(Role.INSTITUTION_ADMIN, make_institution())  # another school's admin hears nothing
    case, _ = make_case(institution)
    db.session.commit()
    return institution, case, (handler, colleague), admin


def _overdue_mails() -> dict[str, list[str]]:
    found = {}
    for mail in db.session.scalars(sa.select(OutboxMail).order_by(OutboxMail.id)):
        if mail.purpose.endswith("_overdue"):
            found.setdefault(mail.purpose, []).append(mail.recipient)
    return found


def test_an_overdue_case_is_reminded_every_second_working_day_until_someone_acts():
    institution, case, handlers, admin = _overdue_world()
    due = case.ack_due_on
    schedule = {}
    day = due
    for _ in range(12):  # twelve working days past the deadline
        day = add_working_days(day, 1)
        schedule[day] = queue_overdue_reminders(day)
        db.session.commit()

    reminded_on = [d for d, n in schedule.items() if n]
    assert reminded_on == [add_working_days(due, n) for n in (1, 3, 5, 7, 9, 11)]
    assert queue_overdue_reminders(reminded_on[-1]) == 0  # the same day: nothing twice
    mails = _overdue_mails()
    assert sorted(set(mails["handler_acknowledgement_overdue"])) == sorted(
        h.email for h in handlers
    )
    assert len(mails["handler_acknowledgement_overdue"]) == 6 * len(handlers)
    # From five working days late on, the institution's admin hears it too.
    assert mails["admin_acknowledgement_overdue"] == [admin.email] * 4
    events = db.session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.action == "case.overdue_reminder_sent")
        .order_by(AuditEvent.id)
    ).all()
    details = [json.loads(e.details) for e in events]
    assert [d["working_days_late"] for d in details] == [1, 3, 5, 7, 9, 11]
    assert [d["admins_told"] for d in details] == [False, False, True, True, True, True]
    assert all(e.case_id == case.id for e in events)


def test_acting_on_an_overdue_case_stops_its_reminders():
    institution, case, (handler, _colleague), _admin = _overdue_world()
    late = add_working_days(case.ack_due_on, 1)
    assert queue_overdue_reminders(late) == 1

    workflow.acknowledge(case, handler)
    db.session.commit()

    assert queue_overdue_reminders(add_working_days(late, 4)) == 0


def test_an_overdue_reminder_goes_to_the_assignee_and_the_admins_mail_names_no_content():
    institution, case, (handler, colleague), admin = _overdue_world()
    workflow.acknowledge(case, handler)  # assigns the case to them
    case.feedback_due_on = local_date(case.submitted_at)
    db.session.commit()

    day = add_working_days(case.feedback_due_on, 6)
    assert queue_overdue_reminders(day) == 1

    mails = db.session.scalars(
        sa.select(OutboxMail).where(OutboxMail.purpose.like("%overdue"))
    ).all()
    assert {(m.purpose, m.recipient) for m in mails} == {
        ("handler_feedback_overdue", handler.email),
        ("admin_feedback_overdue", admin.email),
    }
    for mail in mails:
        assert case.number in mail.subject and case.narrative not in mail.body
    [to_admin] = [m for m in mails if m.purpose.startswith("admin")]
    assert "/organisatie/medewerkers" in to_admin.body  # admins do not open cases
    assert f"/behandelen/zaken/{case.id}" not in to_admin.body


def test_overdue_reminders_repeat_on_working_days_only_also_over_christmas():
    institution, case, handlers, admin = _overdue_world()
    case.ack_due_on = date(2026, 12, 18)  # a Friday; 25 and 26 December are holidays
    db.session.commit()
    schedule = {}
    day = date(2026, 12, 19)
    while day <= date(2026, 12, 31):
        schedule[day] = queue_overdue_reminders(day)
        db.session.commit()
        day += timedelta(days=1)

    reminded_on = [d for d, n in schedule.items() if n]
    # 21 (1 working day late), 23 (3), then 28 (5): not on the weekend, nor on Christmas
    # two days after the 23rd.
    assert reminded_on == [date(2026, 12, d) for d in (21, 23, 28, 30)]
