"""Locale policy: which language a request, a page and a mail are in.

The visitor's language: the browser's preference first, then what they choose.

A choice is made with a button (POST) and kept in the session. For a student
it goes no further: a cookie that outlives the browser session would tell the
next user of a shared computer that somebody visited the meldpunt. A staff
member's choice is also kept on their account, so that it follows them to
another device and their mails come in it.

Staff pages exist in Dutch and English; the student's pages and mails also in
Arabic (right to left), Turkish and Polish. The `/taal` button is served by
`stagepact.language`; this module has no routes, so the domain may import it.
"""

from __future__ import annotations

import time

from flask import current_app, g, has_request_context, request, session
from flask_login import current_user

# Each language named in itself, as a visitor looks for it.
NAMES = {"nl": "Nederlands", "en": "English", "ar": "العربية", "tr": "Türkçe", "pl": "Polski"}
STAFF_LANGUAGES = ("nl", "en")
RIGHT_TO_LEFT = frozenset({"ar"})
DEFAULT = "nl"


# The session keys of the visitor's choice: a login or a logout keeps them (see
# `accounts.clear_session`).
SESSION_KEYS = ("lang", "lang_at")
# A choice made this long before logging in is taken as the staff member's own; an older
# one may be another visitor's (a student, earlier, on the same computer).
CHOICE_AT_LOGIN_SECONDS = 15 * 60


def staff_signed_in() -> bool:
    return bool(getattr(current_user, "is_authenticated", False))


def staff_page() -> bool:
    """Staff pages, and the login pages before them, exist in the staff languages only."""
    return staff_signed_in() or request.blueprint == "auth"


def offered_languages() -> tuple[str, ...]:
    """The languages this page can be shown in (the language buttons)."""
    return STAFF_LANGUAGES if staff_page() else tuple(current_app.config["LANGUAGES"])


def select_locale() -> str:
    """The language of this request (Flask-Babel's locale selector)."""
    if not has_request_context():  # a CLI command or cron: no browser to ask
        return current_app.config["LANGUAGES"][0]
    api_user = g.get("api_user")  # the API: the language asked for, or the monitor's
    if api_user is not None:
        asked = request.args.get("lang")
        if asked in STAFF_LANGUAGES:
            return asked
        return api_user.language if api_user.language in STAFF_LANGUAGES else staff_guess()
    if staff_page():
        chosen = session.get("lang")
        if chosen in STAFF_LANGUAGES:
            return chosen
        own = current_user.language if staff_signed_in() else None
        return own if own in STAFF_LANGUAGES else staff_guess()
    languages = current_app.config["LANGUAGES"]
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    return request.accept_languages.best_match(languages) or languages[0]


def staff_guess() -> str:
    """The browser's preference among the staff languages."""
    return request.accept_languages.best_match(STAFF_LANGUAGES) or DEFAULT


def remember_at_login(user) -> None:
    """At login: a language chosen just before it goes to the account; a first login
    keeps the browser's preference, so that the mails come in the language of the pages.
    An older choice in this browser is forgotten: the account's language applies."""
    chosen = session.get("lang")
    recent = time.time() - session.get("lang_at", 0) <= CHOICE_AT_LOGIN_SECONDS
    if chosen in STAFF_LANGUAGES and recent:
        user.language = chosen
    else:
        session.pop("lang", None)
        if user.language not in STAFF_LANGUAGES:
            user.language = staff_guess()
    session.pop("lang_at", None)


def mail_language(user) -> str:
    """The language of mails to a staff member."""
    return user.language if user.language in STAFF_LANGUAGES else DEFAULT
