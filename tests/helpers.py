"""Helpers shared by the test modules: reading what a request left behind."""

from __future__ import annotations

import base64
import json
import zlib
from datetime import date, datetime
from urllib.parse import unquote

import sqlalchemy as sa
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature

from stagepact.crypto import EncryptedText
from stagepact.extensions import db
from stagepact.models import AuditEvent

# Events that record only that a staff member saw a case or an investigation. A refused
# action shows its page again, and that showing is a read like any other.
READS = ("case.viewed", "investigation.viewed")


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def page_text(response) -> str:
    return response.get_data(as_text=True)


def changes_in_trail() -> int:
    """Audit events that record a change (or an attempt), not a read."""
    return count(AuditEvent, AuditEvent.action.not_in(READS))


def header_texts(app, response) -> list[str]:
    """Every header of a response, and every cookie it sets decoded as far as it goes.

    Flask's session cookie is `payload.timestamp.signature`, where a payload that
    starts with "." is zlib-compressed base64. Its content is given twice: as
    anyone holding the cookie can decode it without the key, and as Flask reads it.
    """
    texts = [f"{name}: {value}" for name, value in response.headers.items()]
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    for header in response.headers.getlist("Set-Cookie"):
        value = unquote(header.split(";", 1)[0].partition("=")[2])
        texts.append(value)
        payload = value.removeprefix(".").split(".", 1)[0]
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            if value.startswith("."):
                raw = zlib.decompress(raw)
            texts.append(raw.decode("utf-8", "replace"))
        except (ValueError, zlib.error):  # binascii.Error is a ValueError
            pass
        try:
            texts.append(json.dumps(serializer.loads(value), default=str))
        except BadSignature:
            pass
    return texts


def _filler(column: sa.Column):
    """A value any NOT NULL column without a given value accepts."""
    if isinstance(column.type, sa.Enum):
        return column.type.enums[0]
    python_type = column.type.python_type if not isinstance(column.type, EncryptedText) else str
    return {
        int: 1,
        bool: False,
        str: "x",
        datetime: datetime(2026, 3, 2, 9, 0),
        date: date(2026, 3, 9),
    }[python_type]


def insert_row(conn, table_name: str, **values) -> None:
    """One row written as plain SQL values (no column type encrypts anything), filling
    the required columns the database has at its revision: for migration tests."""
    model_table = db.metadata.tables[table_name]
    present = {c["name"] for c in sa.inspect(conn).get_columns(table_name)}
    row = dict(values)
    for column in model_table.columns:
        if column.name in row or column.nullable or column.primary_key:
            continue
        if column.name not in present:
            continue
        row[column.name] = _filler(column)
    table = sa.table(table_name, *(sa.column(name) for name in row))
    conn.execute(sa.insert(table).values(row))
