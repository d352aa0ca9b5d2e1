"""Managing staff, an institution's settings and the audit log (institution and platform admins)."""

from flask import Blueprint

bp = Blueprint("organisation", __name__, url_prefix="/organisatie")

from . import routes  # noqa: E402,F401
