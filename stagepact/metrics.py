"""Prometheus metrics for the operator, at `/metrics`, behind `METRICS_TOKEN`.

What each worker counts as it goes (request latency by endpoint, reports submitted) is
kept by prometheus-client; under gunicorn, with `PROMETHEUS_MULTIPROC_DIR` set (as
deploy/gunicorn.conf.py does), every worker writes to that folder and a scrape sums them.
What the database knows is counted at the scrape, in SQL: the outbox's backlog and
failures, each scheduled job's last successful run, and the open and overdue cases of the
whole platform. Nothing is counted per institution: such counts would undercut the
statistics' disclosure control (docs/statistics.md), and the labels are endpoints,
methods, channels and job names only.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Iterator

import sqlalchemy as sa
from flask import Flask, Response, abort, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session

from . import jobs
from .deadlines import today
from .extensions import db
from .models import Case, JobRun, OutboxMail
from .vocab import OPEN_STATUSES

# prometheus-client chose between one process and many when it was imported (above), by
# this variable: the scrape follows the same choice.
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

REQUEST_SECONDS = Histogram(
    "stagepact_request_seconds",
    "Time to answer a request, by endpoint.",
    ["endpoint", "method"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
REPORTS_SUBMITTED = Counter(
    "stagepact_reports_submitted", "Reports accepted (committed), by channel.", ["channel"]
)


PENDING = "stagepact_reports_pending"


def count_report(channel: str) -> None:
    """Count a report when the transaction that opens it commits (never when it rolls back)."""
    db.session.info.setdefault(PENDING, []).append(channel)


def _committed(session) -> None:
    for channel in session.info.pop(PENDING, []):
        REPORTS_SUBMITTED.labels(channel=channel).inc()


def _rolled_back(session) -> None:
    session.info.pop(PENDING, None)


class DatabaseCollector(Collector):
    """What the database holds, counted in SQL at each scrape, platform-wide only."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now_day = today()
        unsent = sa.and_(OutboxMail.sent_at.is_(None), OutboxMail.given_up_at.is_(None))
        backlog, failing, given_up = db.session.execute(
            sa.select(
                sa.func.count().filter(unsent),
                sa.func.count().filter(unsent, OutboxMail.attempts > 0),
                sa.func.count().filter(OutboxMail.given_up_at.is_not(None)),
            )
        ).one()
        yield _gauge("stagepact_outbox_backlog", "Mail waiting to be sent.", backlog)
        yield _gauge(
            "stagepact_outbox_failing", "Mail waiting after at least one failed try.", failing
        )
        yield _gauge("stagepact_outbox_given_up", "Mail given up (kept 30 days).", given_up)

        open_cases, overdue = db.session.execute(
            sa.select(
                sa.func.count().filter(Case.status.in_(OPEN_STATUSES)),
                sa.func.count().filter(Case.is_overdue(now_day)),
            )
        ).one()
        yield _gauge("stagepact_cases_open", "Open cases, all institutions together.", open_cases)
        yield _gauge(
            "stagepact_cases_overdue", "Cases past a deadline, all institutions together.", overdue
        )

        runs = {run.name: run for run in db.session.scalars(sa.select(JobRun))}
        success = GaugeMetricFamily(
            "stagepact_job_last_success_timestamp_seconds",
            "When each scheduled job last ended well (0: never).",
            labels=["job"],
        )
        failed = GaugeMetricFamily(
            "stagepact_job_last_run_failed", "1 when a job's last run failed.", labels=["job"]
        )
        for name in jobs.JOBS:
            run = runs.get(name)
            moment = run.succeeded_at if run is not None else None
            success.add_metric([name], _epoch(moment) if moment else 0)
            failed.add_metric([name], 1 if run is not None and run.outcome == "failed" else 0)
        yield success
        yield failed


def _gauge(name: str, documentation: str, value: int) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _epoch(moment) -> float:
    from datetime import UTC

    return moment.replace(tzinfo=UTC).timestamp()


def exposition() -> bytes:
    """Every metric, in Prometheus' text format: the workers' together where they share a
    folder, and the database's."""
    registry = CollectorRegistry()
    if MULTIPROCESS:
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(REQUEST_SECONDS)
        registry.register(REPORTS_SUBMITTED)
    registry.register(DatabaseCollector())
    return generate_latest(registry)


def authorised() -> bool:
    """The operator's bearer token (METRICS_TOKEN); without one set, metrics are off."""
    token = current_app.config.get("METRICS_TOKEN")
    offered = request.headers.get("Authorization", "")
    if not token or not offered.startswith("Bearer "):
        return False
    return hmac.compare_digest(offered.removeprefix("Bearer ").encode(), token.encode())


def respond() -> Response:
    if not authorised():
        abort(404)  # as if there were nothing here
    response = Response(exposition(), mimetype=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    if not sa.event.contains(Session, "after_commit", _committed):
        sa.event.listen(Session, "after_commit", _committed)
        sa.event.listen(Session, "after_rollback", _rolled_back)

    @app.after_request
    def _observe(response):
        started = g.get("request_started")  # set by `logs`
        if started is not None:
            endpoint = request.endpoint or "none"
            REQUEST_SECONDS.labels(endpoint=endpoint, method=request.method).observe(
                time.perf_counter() - started
            )
        return response
