"""Alembic environment: migrate the database the Stagepact app uses.

The database URL is, in this order:

1. `config.attributes["database_url"]`, for code that runs Alembic itself (the tests);
2. `alembic -x database_url=...` on the command line;
3. the URL the app resolves from its configuration: DATABASE_URL, or the
   SQLite file in the instance folder.
"""

from __future__ import annotations

from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context
from flask import Flask

from stagepact import create_app
from stagepact.crypto import EncryptedText
from stagepact.extensions import db

config = context.config

if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = db.metadata


def _url_override() -> str | None:
    x_arguments = context.get_x_argument(as_dictionary=True)
    return config.attributes.get("database_url") or x_arguments.get("database_url")


def _build_app() -> Flask:
    url = _url_override()
    # The settings are checked as at any start; the database is what this run migrates.
    overrides = {"CHECK_DATABASE_AT_START": False}
    if url:
        overrides["SQLALCHEMY_DATABASE_URI"] = url
    return create_app(test_config=overrides)


def render_item(type_: str, obj, autogen_context) -> str | bool:
    """Render encrypted columns as what the database stores: plain text.

    Migrations must not import application types: the column type may move or
    change its Python behaviour, while the stored ciphertext stays text.
    """
    if type_ == "type" and isinstance(obj, EncryptedText):
        return "sa.Text()"
    return False


def _configure_options(dialect_name: str) -> dict:
    return {
        "target_metadata": target_metadata,
        "compare_type": True,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        "render_as_batch": dialect_name == "sqlite",
        "render_item": render_item,
    }


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (`alembic upgrade head --sql`)."""
    url = sa.engine.make_url(_build_app().config["SQLALCHEMY_DATABASE_URI"])
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **_configure_options(url.get_backend_name()),
    )
    with context.begin_transaction():
        context.run_migrations()


def _share_settings(app: Flask) -> None:
    """Data migrations read the app's keys (to encrypt or decrypt a column) and the
    folder evidence files were kept in (to move them into the database) from here."""
    config.attributes.setdefault("encryption_keys", list(app.config["ENCRYPTION_KEYS"]))
    config.attributes.setdefault("receipt_pepper", app.config["RECEIPT_PEPPER"])
    config.attributes.setdefault("attachment_dir", app.config["ATTACHMENT_DIR"])


def run_migrations_online() -> None:
    app = _build_app()
    _share_settings(app)
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, **_configure_options(connection.dialect.name))
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
