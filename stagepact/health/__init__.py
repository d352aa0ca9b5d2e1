"""Liveness and readiness for the operator's load balancer and monitoring."""

from flask import Blueprint

bp = Blueprint("health", __name__)

from . import routes  # noqa: E402, F401  (the routes register themselves on bp)
