"""How the app uses its database when it is slow or away.

- **Fail fast.** On PostgreSQL every connection has a connect timeout, TCP keepalives and
  a TCP user timeout (a database that goes silent on the network is given up within
  seconds), and, for web requests, a statement timeout and a lock timeout; the pool
  pings a connection before handing it out and waits only briefly for a free one.
  Commands (`flask stagepact ...`) run without a statement timeout: a nightly job may
  take minutes.
- **Retry what is safe.** A request that meets an unavailable database runs again, a few
  times within about three seconds (`retrying`), when nothing it did can have been
  written: no COMMIT is in doubt. A COMMIT that fails half-way may have happened; the
  report form's once-only submission id (`submissions`) makes its retry harmless, and
  other requests then get the calm 503 page instead.
- **Never a bare 500.** What is still unavailable after the retries is answered with a
  503 that shows a form's typed text again, ready to send once more (`errors/503.html`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
from flask import (
    Flask,
    Response,
    current_app,
    g,
    has_request_context,
    make_response,
    render_template,
    request,
)
from flask_babel import force_locale
from sqlalchemy.orm import Session

from .extensions import db

T = TypeVar("T")

# Pauses between the tries of one request: together under three seconds, the time a
# PostgreSQL restart or a fail-over usually takes.
PAUSES = (0.25, 0.75, 1.5)

# Set by the command group: commands run without a statement timeout.
_COMMANDS = {"on": False}


def for_commands() -> None:
    """From now on, connections of this process have no statement timeout (a job)."""
    _COMMANDS["on"] = True


def engine_options(config) -> dict:
    """SQLAlchemy engine options for the configured database."""
    options = {"pool_pre_ping": True}
    url = sa.engine.make_url(config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "postgresql":
        seconds = config["DATABASE_CONNECT_TIMEOUT"]
        options.update(
            pool_timeout=seconds,
            pool_recycle=1800,
            connect_args={
                "connect_timeout": seconds,
                # A peer that stops answering on the network is noticed in seconds.
                "keepalives": 1,
                "keepalives_idle": 10,
                "keepalives_interval": 3,
                "keepalives_count": 3,
                "tcp_user_timeout": seconds * 1000,
            },
        )
    return options


def _timeouts(config) -> Callable:
    """What each new connection is told, as it is made: the statement and lock timeouts
    of a web request (none for commands)."""
    statement_ms = int(config["DATABASE_STATEMENT_TIMEOUT_MS"])
    lock_ms = int(config["DATABASE_LOCK_TIMEOUT_MS"])

    def set_timeouts(dbapi_connection, _record) -> None:
        web = not _COMMANDS["on"]
        with dbapi_connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, false), "
                "set_config('lock_timeout', %s, false)",
                (str(statement_ms if web else 0), str(lock_ms if web else 0)),
            )
        dbapi_connection.commit()

    return set_timeouts


# PostgreSQL's answers that mean "not now" rather than "not this": a server in read-only
# mode (a standby during a fail-over), a full disk, too little memory or connections, a
# server shutting down or starting up, and every connection error (class 08).
UNAVAILABLE_STATES = frozenset({"25006", "53100", "53200", "53300", "57P01", "57P02", "57P03"})
# A statement or a lock wait that took too long: answered calmly, never tried again.
TIMEOUT_STATES = frozenset({"57014", "55P03"})


def _sqlstate(error: BaseException) -> str:
    return getattr(getattr(error, "orig", None), "sqlstate", None) or ""


def timed_out(error: BaseException) -> bool:
    return _sqlstate(error) in TIMEOUT_STATES


def unavailable(error: BaseException) -> bool:
    """Whether `error` says the database could not be reached, answered too late, or cannot
    write now."""
    if isinstance(error, sa.exc.TimeoutError):  # no free connection in the pool
        return True
    if isinstance(error, sa.exc.DBAPIError):
        if error.connection_invalidated:
            return True
        if isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError):
            return True
        state = _sqlstate(error)
        return state in UNAVAILABLE_STATES | TIMEOUT_STATES or state.startswith("08")
    return False


def _commit_started(session) -> None:
    if has_request_context():
        g.commit_in_doubt = True


def _commit_ended(session) -> None:
    if has_request_context():
        g.commit_in_doubt = False
        g.committed = True


def replay_safe() -> None:
    """This request may run again even after it committed, or after a COMMIT that failed
    half-way: what it writes is recorded once only (the report form's submission id)."""
    g.replay_safe = True


def _may_have_written() -> bool:
    """Whether this try committed something, or may have (a COMMIT failed half-way)."""
    return g.get("committed", False) or g.get("commit_in_doubt", False)


def retrying(work: Callable[[], T]) -> T:
    """Run `work`, again after a pause when the database was unavailable and nothing of it
    can have been written (or the request is `replay_safe`). A statement or lock timeout is
    not tried again: the database is there, but busy, and more tries would only add to it
    (and outlast the worker's timeout)."""
    for pause in (*PAUSES, None):
        g.commit_in_doubt = False
        g.committed = False
        g.pop("uploads_kept", None)  # only this try's stored files count (`attachments`)
        try:
            return work()
        except (sa.exc.DBAPIError, sa.exc.TimeoutError) as error:
            wrote = _may_have_written()
            _roll_back()
            if pause is None or not unavailable(error) or timed_out(error):
                raise
            if wrote and not g.get("replay_safe", False):
                raise
            time.sleep(pause)
            _rewind_uploads()
    raise AssertionError("unreachable")  # pragma: no cover


# Forms whose content is never put back on the 503 page: signing in and the receipt code.
NOT_SHOWN_AGAIN = frozenset(
    {
        "auth.login",
        "auth.second_factor",
        "auth.enrol",
        "auth.set_password",
        "auth.change_password",
        "auth.forgot_password",
        "student.follow_up",
    }
)
SECRET_FIELDS = ("password", "code", "secret", "token_plain")


def calm_answer() -> Response:
    """The 503 of a request the database could not serve: no trace, and a form's content
    shown again, ready to send once more (its files too where they were stored; others
    can be chosen again)."""
    from .attachments import kept_tokens
    from .i18n import select_locale

    in_doubt = _may_have_written() and not g.get("replay_safe", False)
    _roll_back()
    fields, typed, file_fields = [], [], []
    if request.method == "POST" and request.endpoint not in NOT_SHOWN_AGAIN:
        for name, value in request.form.items(multi=True):
            if any(part in name for part in SECRET_FIELDS):
                continue  # a password or a code is typed again, never put in a page
            if name == "attachment_token":
                continue  # carried below, when their files were kept
            if len(value) >= 20 and any(ch.isspace() for ch in value):
                typed.append((name, value))  # something a person wrote: shown to keep
            else:
                fields.append((name, value))  # tokens, choices: carried along unseen
        kept = [*request.form.getlist("attachment_token"), *kept_tokens()]
        fields += [("attachment_token", token) for token in dict.fromkeys(kept)]
        chosen = {name for name, f in request.files.items(multi=True) if f.filename}
        file_fields = sorted(chosen) if not kept_tokens() else []
    try:
        locale = str(select_locale())
    except (sa.exc.DBAPIError, sa.exc.TimeoutError):
        _roll_back()
        locale = current_app.config["BABEL_DEFAULT_LOCALE"]
    with force_locale(locale):
        body = render_template(
            "errors/503.html",
            fields=fields,
            typed=typed,
            file_fields=file_fields,
            in_doubt=in_doubt,
        )
    response = make_response(body, 503)
    response.headers["Retry-After"] = "30"
    response.headers["Cache-Control"] = "no-store"
    return response


def _roll_back() -> None:
    try:
        db.session.rollback()
    except sa.exc.DBAPIError:
        db.session.remove()


def _rewind_uploads() -> None:
    """A view run again reads the request's files again, from their start."""
    for stored in request.files.values():
        stored.stream.seek(0)


def init_app(app: Flask) -> None:
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            sa.event.listen(db.engine, "connect", _timeouts(app.config))
    if not sa.event.contains(Session, "before_commit", _commit_started):
        sa.event.listen(Session, "before_commit", _commit_started)
        sa.event.listen(Session, "after_commit", _commit_ended)
