"""SBB's pages: the escalation queue with signals, investigations and the company register."""

from flask import Blueprint

bp = Blueprint("sbb", __name__, url_prefix="/sbb")

from . import routes  # noqa: E402,F401
