"""The scheduled jobs cron runs, each a function the `stagepact` commands call.

A job does its work in the transactions it names, records its audit event with
actor "system", and returns what it did; the command only reads its options and
prints. A job that goes through many items commits after each one, so that a failure
half-way loses nothing that was already done.

Each scheduled job holds a lease (`JobRun.held_until`) while it runs: a second run at
the same time, from an overlapping cron entry or another node, finds it taken and does
nothing. Each run records when it ran and how it ended, and `attention` names the jobs
that failed or have not run for twice their interval (`flask stagepact status`, the
platform admin's overview).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from . import (
    attachments,
    audit,
    deadlines,
    follow_up_sessions,
    investigations,
    key_rotation,
    outbox,
    reminders,
    retention,
    statistics,
    submissions,
)
from .errors import DomainError
from .extensions import db
from .models import JobRun, utcnow
from .progress import Progress, silent


@dataclass(frozen=True)
class Job:
    name: str  # the command's name
    interval: timedelta  # how often cron runs it (README, "Scheduled jobs")
    lease: timedelta  # how long a run may hold it before another may start


JOBS = {
    job.name: job
    for job in (
        Job("send-mail", timedelta(minutes=1), timedelta(minutes=15)),
        Job("purge-uploads", timedelta(hours=1), timedelta(hours=1)),
        Job("publish-statistics", timedelta(days=1), timedelta(hours=2)),
        Job("retention", timedelta(days=1), timedelta(hours=2)),
        Job("sbb-dates", timedelta(days=1), timedelta(hours=1)),
    )
}


class JobBusyError(DomainError):
    """Another run holds the job's lease."""


@dataclass
class _Outcome:
    failed: bool = False
    detail: str = ""

    def done(self, detail: str, failed: bool = False) -> None:
        self.detail, self.failed = detail, failed


def _claim(job: Job, now: datetime) -> bool:
    """Take the job's lease if nobody holds it (or a holder's lease ran out); committed,
    so that a second run sees it at once."""
    if db.session.get(JobRun, job.name) is None:
        try:
            with db.session.begin_nested():
                db.session.add(JobRun(name=job.name))
        except IntegrityError:  # a run at the same moment made the row first
            pass
    taken = db.session.execute(
        sa.update(JobRun)
        .where(
            JobRun.name == job.name,
            sa.or_(JobRun.held_until.is_(None), JobRun.held_until < now),
        )
        .values(held_until=now + job.lease, started_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return taken == 1


def _finish(name: str, outcome: str, detail: str) -> None:
    now = utcnow()
    values = {"held_until": None, "finished_at": now, "outcome": outcome, "detail": detail[:300]}
    if outcome == "ok":
        values["succeeded_at"] = now
    db.session.execute(
        sa.update(JobRun)
        .where(JobRun.name == name)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


@contextmanager
def _leased(name: str) -> Iterator[_Outcome]:
    """Run the body holding the job's lease, and record how it ended: failed when the
    body raised (the error's type only) or said so."""
    if not _claim(JOBS[name], utcnow()):
        raise JobBusyError(_l("%(job)s draait al; deze keer is er niets gedaan.", job=name))
    outcome = _Outcome()
    try:
        yield outcome
    except BaseException as error:
        db.session.rollback()
        _finish(name, "failed", type(error).__name__)
        raise
    _finish(name, "failed" if outcome.failed else "ok", outcome.detail)


@dataclass(frozen=True)
class JobState:
    job: Job
    run: JobRun | None
    code: str  # "ok", "never_ran", "failed" or "stale"

    @property
    def problem(self):
        """What needs attention, in words; None when all is well."""
        if self.code == "never_ran":
            return _l("heeft nog nooit gedraaid")
        if self.code == "failed":
            return _l("de laatste keer mislukt (%(detail)s)", detail=self.run.detail)
        if self.code == "stale":
            return _l("heeft te lang niet gedraaid")
        return None


def states(now: datetime | None = None) -> list[JobState]:
    """Every scheduled job with its last run and what, if anything, needs attention."""
    now = now or utcnow()
    runs = {run.name: run for run in db.session.scalars(sa.select(JobRun))}
    found = []
    for job in JOBS.values():
        run = runs.get(job.name)
        if run is None or run.started_at is None:
            code = "never_ran"
        elif run.outcome == "failed":
            code = "failed"
        elif now - run.started_at > 2 * job.interval:
            code = "stale"
        else:
            code = "ok"
        found.append(JobState(job, run, code))
    return found


def attention(now: datetime | None = None) -> list[JobState]:
    return [state for state in states(now) if state.problem is not None]


@dataclass(frozen=True)
class MailRound:
    reminded: int  # deadline reminders queued
    sent: int
    failed: int  # kept in the outbox, tried again later


def send_mail(limit: int) -> MailRound:
    """Queue the deadline reminders that fell due, then hand due mail to the mail server.
    The run counts as failed when a mail failed (it stays in the outbox for later)."""
    with _leased("send-mail") as outcome:
        today = deadlines.today()
        reminded = reminders.queue_due_reminders(today)
        reminded += reminders.queue_overdue_reminders(today)
        reminded += reminders.queue_sbb_reminders(today)
        db.session.commit()
        sent, failed = outbox.send_due(limit=limit)
        if sent or failed:
            audit.record("mail.sent", actor="system", sent=sent, failed=failed)
            db.session.commit()
        outcome.done(f"reminded={reminded} sent={sent} failed={failed}", failed=failed > 0)
    return MailRound(reminded, sent, failed)


def purge_uploads() -> int:
    """Remove the files of forms never sent, and receipt codes kept past their two hours
    (`submissions`); returns how many files."""
    with _leased("purge-uploads") as outcome:
        removed = attachments.purge_pending()
        codes = submissions.forget_codes()
        if removed:
            audit.record("uploads.purged", actor="system", removed=removed)
        db.session.commit()
        outcome.done(f"removed={removed} codes_forgotten={codes}")
    return removed


def publish_statistics() -> int:
    """Rebuild the monthly rollup every statistics page, export and API answer reads;
    returns its number of rows."""
    with _leased("publish-statistics") as outcome:
        rows = statistics.publish()
        audit.record("statistics.published", actor="system", rows=rows)
        db.session.commit()
        outcome.done(f"rows={rows}")
    return rows


@dataclass(frozen=True)
class SbbRound:
    suspensions_ended: int
    agreements_due: int


def sbb_dates() -> SbbRound:
    """Act on the dates SBB set: suspensions that ended return the company's recognition,
    and improvement agreements that fell due remind SBB."""
    with _leased("sbb-dates") as outcome:
        today = deadlines.today()
        ended = investigations.end_suspensions(today)
        due = investigations.remind_agreements_due(today)
        db.session.commit()
        outcome.done(f"suspensions_ended={ended} agreements_due={due}")
    return SbbRound(ended, due)


@dataclass(frozen=True)
class RetentionRound:
    erased: int  # cases whose personal data went
    mails: int  # sent mail removed


def apply_retention(
    due: list[retention.DueInstitution], progress: Progress = silent
) -> RetentionRound:
    """Erase the cases `retention.due_for_erasure` found, each in its own transaction and
    checked again under its lock; then old sent mail and ended follow-up sessions."""
    with _leased("retention") as outcome:
        erased, done, total = 0, 0, sum(len(item.cases) for item in due)
        for item in due:
            for due_case in item.cases:
                erased += retention.erase_if_due(item.institution, due_case.id)
                db.session.commit()
                done += 1
                progress("retention", done, total)
        removed = retention.purge_sent_mail()
        if removed:
            audit.record(
                "mail.purged", actor="system", removed=removed, days=retention.SENT_MAIL_DAYS
            )
        # Ended follow-up sessions open nothing; their rows go too.
        follow_up_sessions.purge()
        db.session.commit()
        outcome.done(f"erased={erased} mails={removed}")
    return RetentionRound(erased, removed)


def rotate_key(batch_size: int, progress: Progress = silent) -> key_rotation.Rotation:
    """Re-encrypt every encrypted column and file under the first key, in batches, and
    record what was done."""
    result = key_rotation.rotate_all(batch_size, progress)
    audit.record(
        "encryption.key_rotated",
        actor="system",
        keys=len(current_app.config["ENCRYPTION_KEYS"]),
        fields=result.fields_rotated,
        fields_current=result.fields_current,
        fields_changed=result.fields_changed,
        files=result.files,
        files_current=result.files_current,
        files_missing=result.files_missing,
        unreadable=len(result.unreadable),
    )
    db.session.commit()
    return result
