"""The platform admin's pages: the ADV register and each institution's default ADV."""

from flask import Blueprint

bp = Blueprint("platform", __name__, url_prefix="/beheer")

from . import routes  # noqa: E402,F401
