"""`/healthz`: the process answers. `/readyz`: it can serve (see `stagepact.readiness`).
Both are open, cheap and say nothing personal; neither is rate limited. `/metrics`: for
the operator's Prometheus alone, with METRICS_TOKEN (see `stagepact.metrics`)."""

from __future__ import annotations

from flask import jsonify

from .. import metrics, readiness
from ..extensions import limiter
from . import bp


@bp.route("/healthz")
@limiter.exempt
def healthz():
    return jsonify(status="ok")


@bp.route("/readyz")
@limiter.exempt
def readyz():
    ready, found = readiness.checks()
    response = jsonify(status="ready" if ready else "not_ready", checks=found)
    response.status_code = 200 if ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/metrics")
@limiter.exempt
def prometheus_metrics():
    return metrics.respond()
