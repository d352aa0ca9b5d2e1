"""Configuration, read from the environment.

Everything secret or deployment-specific comes from environment variables.
The defaults are safe for a developer's machine only: `ProductionConfig`
refuses to start while any development secret is still in place.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent

# Development-only secrets. Anything running with these is not production.
# Refused in production (`stagepact.preflight`).
DEV_SECRET_KEY = "dev-only-secret-key-change-me"  # noqa: S105  # nosec B105
DEV_ENCRYPTION_KEY = "ZGV2LW9ubHktZW5jcnlwdGlvbi1rZXktY2hhbmdlLW0="
DEV_RECEIPT_PEPPER = "dev-only-receipt-pepper-change-me"
DEVELOPMENT_SECRETS = {DEV_SECRET_KEY, DEV_ENCRYPTION_KEY, DEV_RECEIPT_PEPPER}


# Variables that are set but cannot be read, as (name, what it must be). Nothing here
# raises: the app refuses to start and names them all (`stagepact.preflight`).
SETTING_PROBLEMS: list[tuple[str, str]] = []


class SettingError(ValueError):
    """A setting that leaves no safe way to go on (`stagepact.preflight` words it)."""

    def __init__(self, name: str, expected: str):
        super().__init__(f"{name}: {expected}")
        self.name = name
        self.expected = expected


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        SETTING_PROBLEMS.append((name, "number"))
        return default


def _env_optional_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        SETTING_PROBLEMS.append((name, "number"))
        return None


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    ENV_NAME = "development"

    SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
    # Comma-separated Fernet keys; the first encrypts, all decrypt (rotation).
    ENCRYPTION_KEYS = [
        key.strip()
        for key in os.environ.get("ENCRYPTION_KEYS", DEV_ENCRYPTION_KEY).split(",")
        if key.strip()
    ]
    # Secret mixed into the slow hash of receipt codes.
    RECEIPT_PEPPER = os.environ.get("RECEIPT_PEPPER", DEV_RECEIPT_PEPPER)
    # scrypt cost for receipt codes: 2**14 takes tens of milliseconds.
    RECEIPT_SCRYPT_N = _env_int("RECEIPT_SCRYPT_N", 2**14)

    # None means the instance folder's SQLite file (set in create_app).
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL")
    # Set from the URL in create_app (`stagepact.database.engine_options`): pool pre-ping,
    # and on PostgreSQL a connect timeout and TCP timeouts of DATABASE_CONNECT_TIMEOUT
    # seconds; web requests also get a statement and a lock timeout (commands do not).
    DATABASE_CONNECT_TIMEOUT = _env_int("DATABASE_CONNECT_TIMEOUT", 5)
    DATABASE_STATEMENT_TIMEOUT_MS = _env_int("DATABASE_STATEMENT_TIMEOUT_MS", 15000)
    DATABASE_LOCK_TIMEOUT_MS = _env_int("DATABASE_LOCK_TIMEOUT_MS", 5000)

    # argon2id cost for staff passwords (argon2-cffi's RFC 9106 low-memory profile).
    PASSWORD_TIME_COST = _env_int("PASSWORD_TIME_COST", 3)
    PASSWORD_MEMORY_COST = _env_int("PASSWORD_MEMORY_COST", 65536)
    PASSWORD_PARALLELISM = _env_int("PASSWORD_PARALLELISM", 4)

    # Mail. Without MAIL_SERVER, `send-mail` prints mail to the console.
    MAIL_SERVER = os.environ.get("MAIL_SERVER")
    MAIL_PORT = _env_int("MAIL_PORT", 25)
    MAIL_USE_TLS = _env_bool("MAIL_USE_TLS", False)
    MAIL_USE_SSL = _env_bool("MAIL_USE_SSL", False)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
    MAIL_DEFAULT_SENDER = os.environ.get(
        "MAIL_DEFAULT_SENDER", "Meldpunt Stagediscriminatie <meldpunt@localhost>"
    )
    MAIL_TIMEOUT = _env_int("MAIL_TIMEOUT", 10)
    # SBB's own deadlines: start an investigation within this many working days of
    # receiving it, decide within this many months of starting; reminded again every
    # SBB_OVERDUE_REPEAT_DAYS working days while overdue.
    SBB_START_WORKING_DAYS = _env_int("SBB_START_WORKING_DAYS", 10)
    SBB_DECIDE_MONTHS = _env_int("SBB_DECIDE_MONTHS", 3)
    SBB_OVERDUE_REPEAT_DAYS = _env_int("SBB_OVERDUE_REPEAT_DAYS", 2)
    # One send-mail run stops after this long (cron starts the next a minute later).
    MAIL_RUN_SECONDS = _env_int("MAIL_RUN_SECONDS", 50)
    # A mail still failing this long after it was queued is given up (and listed).
    MAIL_GIVE_UP_HOURS = _env_int("MAIL_GIVE_UP_HOURS", 72)

    # Handlers are reminded this many days before the feedback deadline,
    # and on the last working day before the acknowledgement deadline.
    FEEDBACK_REMINDER_DAYS = _env_int("FEEDBACK_REMINDER_DAYS", 14)

    # Absolute links in mail (there is no request when cron sends it).
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000")

    BABEL_DEFAULT_LOCALE = "nl"
    BABEL_DEFAULT_TIMEZONE = "Europe/Amsterdam"
    # Dutch first (the default and the source language); staff pages in nl and en,
    # the student's pages and mails also in Arabic, Turkish and Polish.
    LANGUAGES = ["nl", "en", "ar", "tr", "pl"]

    # A student may take an hour or more to write: the CSRF token lives as long
    # as the browser session, and an expired one re-shows the form intact.
    WTF_CSRF_TIME_LIMIT = None
    # Over HTTPS, Flask-WTF would refuse every POST without a same-origin Referer; the
    # student's pages send none (Referrer-Policy: no-referrer). Requests from other sites
    # are refused by their Origin, Referer and fetch metadata instead (web_security.py).
    WTF_CSRF_SSL_STRICT = False

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # Staff sessions end after 30 minutes without activity and 12 hours at most.
    SESSION_IDLE_SECONDS = _env_int("SESSION_IDLE_SECONDS", 30 * 60)
    SESSION_ABSOLUTE_SECONDS = _env_int("SESSION_ABSOLUTE_SECONDS", 12 * 3600)
    PERMANENT_SESSION_LIFETIME = SESSION_ABSOLUTE_SECONDS
    # How long a student stays on their case page after entering the code: 30 minutes
    # without activity, and 2 hours at most, however active.
    FOLLOW_UP_SESSION_SECONDS = _env_int("FOLLOW_UP_SESSION_SECONDS", 30 * 60)
    FOLLOW_UP_SESSION_MAX_SECONDS = _env_int("FOLLOW_UP_SESSION_MAX_SECONDS", 2 * 3600)

    CASES_PER_PAGE = 25

    # Two-factor authentication is required for platform admins, SBB, monitors and
    # institution admins, and for handlers where their institution requires it.
    TWO_FACTOR_ENFORCED = True

    # Rate limits (Flask-Limiter): counters in memory for one process, in Redis
    # (REDIS_URL) when several workers must share them, as in production.
    RATELIMIT_STORAGE_URI = os.environ.get("REDIS_URL") or "memory://"
    # Whether limits apply to this app (checked on each request; see extensions.limiter).
    RATE_LIMITS_ON = _env_bool("RATE_LIMITS_ON", True)
    RATELIMIT_HEADERS_ENABLED = False
    # Keys in Redis start with this: set it apart where environments share one Redis.
    RATELIMIT_KEY_PREFIX = os.environ.get("RATELIMIT_KEY_PREFIX", "stagepact")
    # Redis down: every limit goes on counting in this worker's memory (logged by
    # Flask-Limiter), and Redis is tried again now and then; a request never fails on it.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_SWALLOW_ERRORS = True
    RATELIMIT_STORAGE_OPTIONS = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
    # Behind a reverse proxy: how many proxies set X-Forwarded-For (0 = none). Unset is
    # 0 on a developer's machine; production refuses to start without an explicit value,
    # since a wrong one puts every visitor in one bucket or lets them choose their own.
    TRUSTED_PROXIES = _env_optional_int("TRUSTED_PROXIES")

    # Statistics: counts from 1 to STATS_MIN_COUNT - 1 are shown as "<STATS_MIN_COUNT".
    STATS_MIN_COUNT = _env_int("STATS_MIN_COUNT", 5)

    # Evidence files: stored encrypted under server-chosen names. None means the
    # instance folder's attachments/ directory (set in create_app).
    ATTACHMENT_DIR = os.environ.get("ATTACHMENT_DIR")
    ATTACHMENT_MAX_BYTES = _env_int("ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)
    ATTACHMENT_CASE_MAX_BYTES = _env_int("ATTACHMENT_CASE_MAX_BYTES", 50 * 1024 * 1024)
    ATTACHMENTS_PER_FORM = 10
    # Whole requests above this are refused before they are read (a friendly 413 page).
    MAX_CONTENT_LENGTH = _env_int("MAX_REQUEST_BYTES", 60 * 1024 * 1024)
    # Uploads of a form that was never sent are removed after this many hours.
    PENDING_UPLOAD_HOURS = 24

    # Before the app serves or runs a command, it checks its settings and that the
    # database is reachable, at the schema this code needs, and made with these keys and
    # this pepper (`stagepact.preflight`); a problem stops it with one line. Alembic's
    # own run and most tests skip the database part.
    CHECK_DATABASE_AT_START = True

    # Logs: "json" writes JSON lines on stderr (production's default; see stagepact.logs).
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "text")
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
    # The bearer token of the operator's Prometheus for /metrics; unset: /metrics is off.
    METRICS_TOKEN = os.environ.get("METRICS_TOKEN") or None


class DevelopmentConfig(Config):
    # The demo logins work with a password alone unless TWO_FACTOR_ENFORCED=1 is set;
    # production always enforces it.
    TWO_FACTOR_ENFORCED = _env_bool("TWO_FACTOR_ENFORCED", False)


class TestConfig(Config):
    ENV_NAME = "test"
    TESTING = True
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL", "sqlite://")
    # Tests only.
    SECRET_KEY = "test-secret-key"  # noqa: S105  # nosec B105
    RECEIPT_PEPPER = "test-receipt-pepper"
    RECEIPT_SCRYPT_N = 2**4
    PASSWORD_TIME_COST = 1
    PASSWORD_MEMORY_COST = 64
    PASSWORD_PARALLELISM = 1
    MAIL_SERVER = None
    RATE_LIMITS_ON = False  # tests that are about limits turn them on
    TWO_FACTOR_ENFORCED = False  # tests that are about 2FA turn it on
    WTF_CSRF_ENABLED = False  # tests that prove CSRF turn it on (fixture csrf_enabled)
    SERVER_NAME = "meldpunt.test"
    CHECK_DATABASE_AT_START = False  # tests of the start-up checks turn it on
    PUBLIC_BASE_URL = "http://meldpunt.test"


class ProductionConfig(Config):
    # What production needs set, and never with a development value, is checked at start
    # (`stagepact.preflight`).
    ENV_NAME = "production"
    TWO_FACTOR_ENFORCED = True
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "json")
    # Served over HTTPS only (TLS ends at the reverse proxy or in gunicorn, see the
    # README): cookies only over TLS, and a session cookie that no subdomain can set.
    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_NAME = "__Host-session"
    REMEMBER_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"


CONFIGS = {
    "development": DevelopmentConfig,
    "test": TestConfig,
    "production": ProductionConfig,
}


def config_from_env() -> type[Config]:
    name = os.environ.get("STAGEPACT_ENV", "development")
    if name not in CONFIGS:
        raise SettingError("STAGEPACT_ENV", "environment")
    return CONFIGS[name]
