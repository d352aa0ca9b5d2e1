"""The visitor's language: chosen with a button (POST, remembered in the session).

The browser's preference is the first guess (see `select_locale`). Staff
pages exist in Dutch and English; the student's pages and mails also in
Arabic (right to left), Turkish and Polish.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, redirect, request, session, url_for

bp = Blueprint("language", __name__)

# Each language named in itself, as a visitor looks for it.
NAMES = {"nl": "Nederlands", "en": "English", "ar": "العربية", "tr": "Türkçe", "pl": "Polski"}
STAFF_LANGUAGES = ("nl", "en")
RIGHT_TO_LEFT = frozenset({"ar"})


def _local_path(target: str | None) -> str:
    """Only a path on this site, never another host (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
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
    return redirect(_local_path(request.form.get("next")), code=303)
