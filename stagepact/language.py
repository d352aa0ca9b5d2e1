"""The visitor's language: the browser's preference first, then what they choose.

A choice is made with a button (POST) and kept in the session. For a student
it goes no further: a cookie that outlives the browser session would tell the
next user of a shared computer that somebody visited the meldpunt. A staff
member's choice is also kept on their account, so that it follows them to
another device and their mails come in it.

Staff pages exist in Dutch and English; the student's pages and mails also in
Arabic (right to left), Turkish and Polish.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    has_request_context,
    redirect,
    request,
    session,
    url_for,
)
from flask_login import current_user

from .extensions import db

bp = Blueprint("language", __name__)

# Each language named in itself, as a visitor looks for it.
NAMES = {"nl": "Nederlands", "en": "English", "ar": "العربية", "tr": "Türkçe", "pl": "Polski"}
STAFF_LANGUAGES = ("nl", "en")
RIGHT_TO_LEFT = frozenset({"ar"})
DEFAULT = "nl"


def _staff_signed_in() -> bool:
    return bool(getattr(current_user, "is_authenticated", False))


def select_locale() -> str:
    """The language of this request (Flask-Babel's locale selector)."""
    if not has_request_context():  # a CLI command or cron: no browser to ask
        return current_app.config["LANGUAGES"][0]
    if _staff_signed_in():
        chosen = session.get("lang")
        if chosen in STAFF_LANGUAGES:
            return chosen
        return current_user.language or staff_guess()
    languages = current_app.config["LANGUAGES"]
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    return request.accept_languages.best_match(languages) or languages[0]


def staff_guess() -> str:
    """The browser's preference among the staff languages."""
    return request.accept_languages.best_match(STAFF_LANGUAGES) or DEFAULT


def remember_at_login(user) -> None:
    """At login: a language chosen before it goes to the account; a first login keeps
    the browser's preference, so that the mails come in the language of the pages."""
    chosen = session.get("lang")
    if chosen in STAFF_LANGUAGES:
        user.language = chosen
    elif user.language is None:
        user.language = staff_guess()


def mail_language(user) -> str:
    """The language of mails to a staff member."""
    return user.language if user.language in STAFF_LANGUAGES else DEFAULT


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
    if _staff_signed_in() and code in STAFF_LANGUAGES and current_user.language != code:
        current_user.language = code
        db.session.commit()
    return redirect(_local_path(request.form.get("next")), code=303)
