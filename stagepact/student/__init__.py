"""The student's pages: no account, anonymous if they wish, the receipt code as the only key."""

from flask import Blueprint

bp = Blueprint("student", __name__)

from . import routes  # noqa: E402,F401
