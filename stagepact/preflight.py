"""What must hold before this code serves a page or runs a command.

- The settings: every variable can be read, every key in ENCRYPTION_KEYS is a Fernet key,
  the pepper is long enough, and in production everything it needs is set, never to a
  development value.
- The database: reachable, at the Alembic head of this code, and made with the pepper
  and the keys configured (`models.SecretCheck`). Another pepper would silently refuse
  every receipt code; a missing key would make every case unreadable.

`create_app` refuses to start with one line naming every problem (`Refused`, a
`SystemExit`, so that gunicorn, flask and alembic print it without a traceback), and
`flask stagepact check` runs the same checks and says what it found. The first start on
a database without a `SecretCheck` row writes one with the secrets it was started with,
after checking them against a staff account when the database already holds data.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from cryptography.fernet import InvalidToken
from flask import Flask, current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from config import DEVELOPMENT_SECRETS, SETTING_PROBLEMS

from .crypto import decrypt, email_lookup
from .extensions import db

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
MIN_PEPPER_LENGTH = 16
MIN_TOKEN_LENGTH = 24
# What `SecretCheck.key_check` holds, encrypted; nothing secret.
KEY_CHECK_TEXT = "stagepact key check"

_OTHER_PEPPER = _l(
    "RECEIPT_PEPPER is niet de pepper waarmee deze database is gemaakt: "
    "geen ontvangstcode en geen e-mailadres zou nog kloppen"
)
_KEY_MISSING = _l(
    "geen sleutel in ENCRYPTION_KEYS kan de gegevens van deze database lezen: "
    "er ontbreekt een (oude) sleutel"
)

EXPECTED = {
    "number": _l("moet een geheel getal zijn"),
    "environment": _l("moet development, test of production zijn"),
}


class Refused(SystemExit):
    """The app will not start: one line with every problem, exit code 1."""

    def __init__(self, problems: list):
        self.problems = [str(problem) for problem in problems]
        super().__init__(
            str(_l("Het meldpunt start niet: %(problems)s.", problems="; ".join(self.problems)))
        )


def setting_problem(name: str, expected: str):
    return _l("%(name)s %(expected)s", name=name, expected=EXPECTED[expected])


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    """The newest Alembic revision this code was written for."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def revision_of(conn: sa.Connection) -> str | None:
    """The Alembic revision the database is at (None: no schema yet)."""
    return MigrationContext.configure(conn).get_current_revision()


def database_revision() -> tuple[bool, str | None]:
    """(whether the database answers, the revision it is at): what both the start-up check
    and `/readyz` ask first."""
    try:
        with db.engine.connect() as conn:
            return True, revision_of(conn)
    except sa.exc.SQLAlchemyError:
        return False, None


# --- Settings ----------------------------------------------------------------------


def _production_missing(config: Mapping) -> list[str]:
    """What production needs that is unset, or still set to a development value."""
    missing = []
    if config["SECRET_KEY"] in DEVELOPMENT_SECRETS:
        missing.append("SECRET_KEY")
    if any(key in DEVELOPMENT_SECRETS for key in config["ENCRYPTION_KEYS"]):
        missing.append("ENCRYPTION_KEYS")
    if config["RECEIPT_PEPPER"] in DEVELOPMENT_SECRETS:
        missing.append("RECEIPT_PEPPER")
    if not config.get("SQLALCHEMY_DATABASE_URI", "").startswith("postgresql"):
        missing.append("DATABASE_URL (PostgreSQL)")
    if not config.get("MAIL_SERVER"):
        missing.append("MAIL_SERVER")
    if config["RATELIMIT_STORAGE_URI"].startswith("memory://"):
        missing.append("REDIS_URL")
    if not config["PUBLIC_BASE_URL"].startswith("https://"):
        missing.append("PUBLIC_BASE_URL (https://...)")
    if config.get("TRUSTED_PROXIES") is None:
        missing.append("TRUSTED_PROXIES (0 without a reverse proxy)")
    return missing


def _is_fernet_key(key: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32 and len(key) == 44
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return False


def settings_problems(config: Mapping) -> list:
    """What is wrong with the settings alone, without touching the database."""
    problems = [setting_problem(name, expected) for name, expected in SETTING_PROBLEMS]
    keys = config["ENCRYPTION_KEYS"]
    if not keys:
        problems.append(_l("ENCRYPTION_KEYS bevat geen sleutel"))
    for position, key in enumerate(keys, start=1):
        if not _is_fernet_key(key):
            problems.append(
                _l(
                    "sleutel %(position)d in ENCRYPTION_KEYS is geen Fernet-sleutel "
                    "(44 tekens, url-safe base64)",
                    position=position,
                )
            )
    if len(config["RECEIPT_PEPPER"]) < MIN_PEPPER_LENGTH:
        problems.append(
            _l("RECEIPT_PEPPER is korter dan %(length)d tekens", length=MIN_PEPPER_LENGTH)
        )
    token = config.get("METRICS_TOKEN")
    if token and len(token) < MIN_TOKEN_LENGTH:
        problems.append(
            _l("METRICS_TOKEN is korter dan %(length)d tekens", length=MIN_TOKEN_LENGTH)
        )
    if config.get("LOG_FORMAT") not in ("json", "text"):
        problems.append(_l("LOG_FORMAT moet json of text zijn"))
    if config.get("ENV_NAME") == "production" and (missing := _production_missing(config)):
        problems.append(
            _l("zet voor productie (niet de ontwikkelwaarde): %(names)s", names=", ".join(missing))
        )
    return problems


# --- The database ------------------------------------------------------------------


def pepper_check() -> str:
    """What `SecretCheck.pepper_check` holds for the configured pepper."""
    pepper = current_app.config["RECEIPT_PEPPER"].encode("utf-8")
    return hmac.new(pepper, b"stagepact pepper check", hashlib.sha256).hexdigest()


@dataclass
class DatabaseState:
    problems: list = field(default_factory=list)
    revision: str | None = None
    adopted: bool = False  # this start wrote the database's first SecretCheck


def _secret_check() -> tuple[str, str] | None:
    from .models import SecretCheck

    raw = sa.select(SecretCheck.pepper_check, sa.type_coerce(SecretCheck.key_check, sa.Text))
    row = db.session.execute(raw).first()
    return tuple(row) if row else None


def _existing_data_problems() -> list:
    """Before the first SecretCheck is written on a database that already holds data: do
    this start's key and pepper read it? One staff account tells both: its e-mail address
    is encrypted, and its lookup is a keyed hash under the pepper."""
    from .models import User

    row = db.session.execute(
        sa.select(sa.type_coerce(User.email, sa.Text), User.email_lookup).limit(1)
    ).first()
    if row is None:
        return []
    token, lookup = row
    try:
        email = decrypt(token)
    except InvalidToken:
        return [_KEY_MISSING]
    if not hmac.compare_digest(email_lookup(email), lookup):
        return [_OTHER_PEPPER]
    return []


def _adopt() -> None:
    """Write the first SecretCheck, with the secrets this start runs with."""
    from .models import SecretCheck

    db.session.add(SecretCheck(id=1, pepper_check=pepper_check(), key_check=KEY_CHECK_TEXT))
    try:
        db.session.commit()
    except sa.exc.IntegrityError:  # another node wrote it at the same moment
        db.session.rollback()


def database_state() -> DatabaseState:
    """Reachable, at the head, and made with these secrets? (In an app context.)"""
    state = DatabaseState()
    reachable, state.revision = database_revision()
    if not reachable:
        state.problems.append(_l("de database is niet bereikbaar (DATABASE_URL)"))
        return state
    head = head_revision()
    if state.revision is None:
        state.problems.append(
            _l("de database heeft nog geen schema: voer 'alembic upgrade head' uit")
        )
        return state
    if state.revision != head:
        state.problems.append(
            _l(
                "het databaseschema staat op %(found)s en deze versie vraagt %(head)s: "
                "voer 'alembic upgrade head' uit",
                found=state.revision,
                head=head,
            )
        )
        return state
    try:
        found = _secret_check()
        if found is None:
            state.problems = _existing_data_problems()
            if state.problems:
                return state  # nothing written: these secrets are not the data's
            _adopt()
            state.adopted = True
            found = _secret_check()
    finally:
        db.session.remove()
    pepper, key_token = found
    if not hmac.compare_digest(pepper, pepper_check()):
        state.problems.append(_OTHER_PEPPER)
    try:
        readable = decrypt(key_token) == KEY_CHECK_TEXT
    except InvalidToken:
        readable = False
    if not readable:
        state.problems.append(_KEY_MISSING)
    return state


def _in_memory(app: Flask) -> bool:
    url = sa.engine.make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def at_start(app: Flask) -> None:
    """Refuse to start (`Refused`) when a setting or the database is not right."""
    with app.app_context(), force_locale(app.config["BABEL_DEFAULT_LOCALE"]):
        problems = settings_problems(app.config)
        if not problems and app.config["CHECK_DATABASE_AT_START"]:
            problems = database_state().problems
            if not _in_memory(app):
                # No connection of this check outlives it: gunicorn may fork after it.
                db.engine.dispose()
        if problems:
            raise Refused(problems)
