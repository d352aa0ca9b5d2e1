"""Fixtures: an app on SQLite (default) or on PostgreSQL when DATABASE_URL says so."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa
from flask import g
from flask.testing import FlaskClient
from sqlalchemy.pool import NullPool

from config import TestConfig
from stagepact import create_app
from stagepact.extensions import db, limiter, mail
from tests.databases import database_factory
from tests.factories import PASSWORD


@pytest.fixture(scope="session")
def database_url(worker_id):
    """SQLite in memory, or the PostgreSQL database of DATABASE_URL. With pytest-xdist,
    each worker gets a database of its own on that server, dropped afterwards."""
    url = os.environ.get("DATABASE_URL", "sqlite://")
    if not url.startswith("postgresql") or worker_id == "master":
        yield url
        return
    base = sa.engine.make_url(url)
    name = f"{base.database}_{worker_id}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    quoted = admin.dialect.identifier_preparer.quote(name)
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
        conn.execute(sa.text(f"CREATE DATABASE {quoted}"))
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture
def new_database(tmp_path):
    """A factory of fresh, empty databases for the migration tests (`tests.databases`)."""
    yield from database_factory(tmp_path)


def _stamp_head() -> None:
    """The tables come from the models, which a test holds equal to the migrations' head:
    say so in the database, as `alembic upgrade head` would (readiness checks it)."""
    from stagepact.preflight import head_revision

    with db.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
        conn.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
        conn.execute(sa.text("INSERT INTO alembic_version VALUES (:v)"), {"v": head_revision()})


@pytest.fixture(scope="session")
def app(tmp_path_factory, database_url):
    app = create_app(
        TestConfig,
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "ATTACHMENT_DIR": str(tmp_path_factory.mktemp("attachments")),
        },
    )
    app.test_client_class = FreshGlobalsClient
    with app.app_context():
        db.drop_all()
        db.create_all()
        _stamp_head()
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()


@pytest.fixture(autouse=True)
def _app_context(app):
    """Each test runs in an app context and leaves empty tables behind."""
    with app.app_context():
        yield
        db.session.rollback()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        db.session.remove()


class FreshGlobalsClient(FlaskClient):
    """A browser whose every request starts with an empty `g`, as on a real server.

    The tests run inside one app context, which the test client's requests reuse.
    Without this, Flask-Login's cached user and Flask-WTF's cached CSRF token would
    leak from one request into the next: a second browser would appear logged in,
    and a CSRF token would outlive the `session.clear()` of a login.
    """

    def open(self, *args, **kwargs):
        g.__dict__.clear()
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class AuthActions:
    def __init__(self, client):
        self._client = client

    def login(self, user, password: str = PASSWORD):
        db.session.commit()
        return self._client.post(
            "/inloggen", data={"email": user.email, "password": password}, follow_redirects=False
        )

    def logout(self):
        return self._client.post("/uitloggen")


@pytest.fixture
def auth(client):
    return AuthActions(client)


@pytest.fixture
def limited(app):
    """Rate limits on, from empty counters (tests run with them off)."""
    app.config["RATE_LIMITS_ON"] = True
    limiter.reset()
    yield
    limiter.reset()
    app.config["RATE_LIMITS_ON"] = False


@pytest.fixture
def enforced(app):
    """Two-factor enrolment enforced, as in production."""
    app.config["TWO_FACTOR_ENFORCED"] = True
    yield
    app.config["TWO_FACTOR_ENFORCED"] = False


@pytest.fixture
def csrf_enabled(app):
    app.config["WTF_CSRF_ENABLED"] = True
    yield
    app.config["WTF_CSRF_ENABLED"] = False


@pytest.fixture
def smtp(app):
    """The app configured for a real SMTP server; Flask-Mail reads its config at init_app."""
    from tests.mailserver import SmtpServer

    server = SmtpServer()
    keys = ("MAIL_SERVER", "MAIL_PORT", "MAIL_SUPPRESS_SEND")
    saved = {key: app.config[key] for key in keys if key in app.config}
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port, MAIL_SUPPRESS_SEND=False)
    mail.init_app(app)
    server.start()
    yield server
    server.stop()
    for key in keys:
        app.config.pop(key, None)
    app.config.update(saved)
    mail.init_app(app)
