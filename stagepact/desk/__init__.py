"""The handler's desk: the inbox, the case page and the workflow's actions."""

from flask import Blueprint

bp = Blueprint("desk", __name__, url_prefix="/behandelen")

from . import routes  # noqa: E402,F401
