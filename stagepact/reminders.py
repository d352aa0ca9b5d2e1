"""Deadline reminders, queued by the cron run of `send-mail`.

Before a deadline, the responsible handlers are reminded once. After it, a case stays
overdue until someone acts: they are reminded again every `overdue_repeat_days` working
days of its institution, and from `overdue_admin_days` working days overdue on, its
institution admins are told as well. Every reminder is one audit event.
"""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from flask import current_app

from . import audit, notify, scoping
from .claims import claim
from .deadlines import (
    add_working_days,
    is_working_day,
    subtract_working_days,
    working_days_after,
)
from .extensions import db
from .models import Case, Institution, Investigation, utcnow
from .vocab import InvestigationStatus


def queue_due_reminders(today: date) -> int:
    """Queue one reminder per deadline that is near; return how many cases were reminded.

    Acknowledgement: from the last working day before it is due. Feedback:
    FEEDBACK_REMINDER_DAYS before it is due. A reminder is never sent twice: the cases
    are marked in the same UPDATE that chooses them, so a second run at the same time
    (which waits for the first's row locks, then finds them marked) chooses none of them.
    """
    ack_cutoff = add_working_days(today, 1)
    feedback_cutoff = today + timedelta(days=current_app.config["FEEDBACK_REMINDER_DAYS"])
    due = {
        "acknowledgement": (
            Case.ack_reminded_at,
            sa.and_(
                Case.ack_running(),
                Case.ack_reminded_at.is_(None),
                Case.ack_due_on <= ack_cutoff,
            ),
        ),
        "feedback": (
            Case.feedback_reminded_at,
            sa.and_(
                Case.feedback_running(),
                Case.feedback_reminded_at.is_(None),
                Case.feedback_due_on <= feedback_cutoff,
            ),
        ),
    }
    reminded = 0
    for deadline, (mark, condition) in due.items():
        for case in claim(Case, condition, **{mark.key: utcnow()}):
            notify.handlers_of_deadline(case, deadline, today)
            audit.record("case.reminder_sent", case=case, actor="system", deadline=deadline)
            reminded += 1
    return reminded


def queue_overdue_reminders(today: date) -> int:
    """Remind the handlers of every case whose deadline has passed, once per
    `overdue_repeat_days` working days of its institution, the institution admins too from
    `overdue_admin_days` working days overdue; return how many cases were reminded. Marked
    in the statement that chooses them, as `queue_due_reminders` does."""
    if not is_working_day(today):
        # Repeated reminders go out on working days only: counted from a weekend or a
        # holiday, "every N working days" would come early and then skip.
        return 0
    reminded = 0
    overdue = sa.or_(Case.ack_overdue(today), Case.feedback_overdue(today))
    for institution in db.session.scalars(sa.select(Institution).order_by(Institution.id)):
        last_day_done = subtract_working_days(today, institution.overdue_repeat_days)
        condition = sa.and_(
            scoping.own_reports(institution.id),
            overdue,
            sa.or_(
                Case.overdue_reminded_on.is_(None),
                Case.overdue_reminded_on <= last_day_done,
            ),
        )
        for case in claim(Case, condition, overdue_reminded_on=today):
            deadline = "acknowledgement" if case.ack_overdue(today) else "feedback"
            due = case.ack_due_on if deadline == "acknowledgement" else case.feedback_due_on
            late = working_days_after(due, today)
            to_admins = late >= institution.overdue_admin_days
            notify.overdue(case, deadline, due, late, to_admins, today)
            audit.record(
                "case.overdue_reminder_sent",
                case=case,
                actor="system",
                deadline=deadline,
                working_days_late=late,
                admins_told=to_admins,
            )
            reminded += 1
    return reminded


def queue_sbb_reminders(today: date) -> int:
    """SBB's reviewers are reminded of their own deadlines like the schools' handlers: once
    on the working day before an investigation is to be started or decided, then every
    SBB_OVERDUE_REPEAT_DAYS working days while it is overdue. Returns how many
    investigations were reminded."""
    received = Investigation.status == InvestigationStatus.RECEIVED
    investigating = Investigation.status == InvestigationStatus.INVESTIGATING
    cutoff = add_working_days(today, 1)
    near = sa.and_(
        Investigation.deadline_reminded_at.is_(None),
        sa.or_(
            sa.and_(received, Investigation.start_due_on <= cutoff),
            sa.and_(investigating, Investigation.decide_due_on <= cutoff),
        ),
        sa.not_(Investigation.is_overdue(today)),
    )
    last_day_done = subtract_working_days(today, current_app.config["SBB_OVERDUE_REPEAT_DAYS"])
    overdue = sa.and_(
        sa.true() if is_working_day(today) else sa.false(),  # repeated on working days only
        Investigation.is_overdue(today),
        sa.or_(
            Investigation.overdue_reminded_on.is_(None),
            Investigation.overdue_reminded_on <= last_day_done,
        ),
    )
    reminded = 0
    for condition, marks, is_late in (
        (near, {"deadline_reminded_at": utcnow()}, False),
        (overdue, {"overdue_reminded_on": today}, True),
    ):
        for investigation in claim(Investigation, condition, **marks):
            step = "start" if investigation.status == InvestigationStatus.RECEIVED else "decide"
            notify.sbb_of_deadline(investigation, step, is_late)
            audit.record(
                "investigation.reminder_sent",
                case=investigation.case,
                actor="system",
                investigation_id=investigation.id,
                deadline=step,
                overdue=is_late,
            )
            reminded += 1
    return reminded
