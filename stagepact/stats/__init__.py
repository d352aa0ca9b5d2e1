"""Statistics pages: the monitors' sector figures and an institution's own meldpunt."""

from flask import Blueprint

bp = Blueprint("stats", __name__, url_prefix="/statistieken")

from . import routes  # noqa: E402,F401
