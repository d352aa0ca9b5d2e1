"""Throwaway databases for the migration tests: of the kind the test run uses (a file
on SQLite, or a scratch database beside the test database on PostgreSQL), and the
project's Alembic configuration pointed at one of them."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parent.parent


def is_postgresql(url: str) -> bool:
    return url.startswith("postgresql")


def engine_for(url: str) -> sa.Engine:
    return sa.create_engine(url, poolclass=NullPool)


def database_factory(tmp_path: Path) -> Iterator[Callable[[], str]]:
    """A factory of fresh, empty databases of the kind the test run uses; drops the
    ones it made when the generator is closed (the `new_database` fixture)."""
    server_url = os.environ.get("DATABASE_URL", "")
    created: list[str] = []

    def make() -> str:
        name = f"stagepact_migrations_{uuid.uuid4().hex[:12]}"
        if not is_postgresql(server_url):
            return f"sqlite:///{tmp_path / f'{name}.sqlite'}"
        with admin_engine(server_url).connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)

    yield make

    for name in created:
        with admin_engine(server_url).connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def admin_engine(server_url: str) -> sa.Engine:
    """The server's maintenance database, outside any transaction (CREATE DATABASE needs it)."""
    admin_url = sa.make_url(server_url).set(database="postgres")
    return sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)


def alembic_config(database_url: str, attachment_dir: Path | None = None) -> Config:
    """The project's alembic.ini, pointed at `database_url` through env.py's override, with
    the folder evidence files were kept in before 0025 (a fresh temporary one by default)."""
    config = Config(str(ROOT / "alembic.ini"))
    folder = attachment_dir or Path(tempfile.mkdtemp(prefix="stagepact-files-"))
    config.attributes["attachment_dir"] = str(folder)
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = False  # leave pytest's logging alone
    return config
