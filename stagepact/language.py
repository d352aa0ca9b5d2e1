"""The language buttons: `POST /taal` keeps the visitor's choice (see `stagepact.i18n`)."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, redirect, request, session, url_for
from flask_login import current_user

from .extensions import db
from .i18n import STAFF_LANGUAGES, staff_signed_in

bp = Blueprint("language", __name__)


def _local_path(target: str | None) -> str:
    """Only a path on this site, never another host (no open redirect)."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(ch) < 32 or ord(ch) == 127 for ch in target)
    ):
        return url_for("student.start")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return url_for("student.start")
    return target


@bp.route("/taal", methods=["POST"])
def choose():
    code = request.form.get("lang", "")
    if code not in current_app.config["LANGUAGES"]:
        abort(400)
    session["lang"] = code
    if staff_signed_in():
        if code in STAFF_LANGUAGES and current_user.language != code:
            current_user.language = code
            db.session.commit()
    else:
        session["lang_at"] = time.time()  # see `remember_at_login`
    return redirect(_local_path(request.form.get("next")), code=303)
