"""Deadline reminders for handlers, queued by the cron run of `send-mail`."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from flask import current_app

from . import audit, notify
from .deadlines import add_working_days
from .extensions import db
from .models import Case, utcnow

BATCH = 1000


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
        chosen = sa.select(Case.id).where(condition).order_by(Case.id).limit(BATCH)
        claimed = db.session.scalars(
            sa.update(Case)
            .where(Case.id.in_(chosen.scalar_subquery()), condition)
            .values({mark.key: utcnow()})
            .returning(Case.id)
            .execution_options(synchronize_session=False)
        ).all()
        for case in db.session.scalars(sa.select(Case).where(Case.id.in_(claimed))):
            db.session.refresh(case)  # the mark, as the UPDATE wrote it
            notify.handlers_of_deadline(case, deadline)
            audit.record("case.reminder_sent", case=case, actor="system", deadline=deadline)
            reminded += 1
    return reminded
