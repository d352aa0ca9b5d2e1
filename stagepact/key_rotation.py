"""Key rotation: everything encrypted again under the first key of ENCRYPTION_KEYS.

The operator puts a new key first and keeps the old ones behind it (they still
decrypt), runs `rotate-key`, and then removes the old keys. Every column whose
type is `EncryptedText` is found from the metadata, so that a new one is never
forgotten, and so is every evidence file's content. Work goes in batches, each
committed on its own, and a value already under the first key is left alone: an
interrupted run simply runs again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from cryptography.fernet import InvalidToken

from . import attachments
from .crypto import EncryptedText, reencrypt
from .extensions import db
from .models import Attachment
from .progress import Progress, silent

BATCH_SIZE = 500
# Files are up to 10 MB each: fewer go in one transaction.
FILE_BATCH_SIZE = 20


@dataclass
class Rotation:
    fields: dict[str, int] = field(default_factory=dict)  # rotated, per table
    fields_current: int = 0  # already under the first key
    fields_changed: int = 0  # rewritten by the application meanwhile (so already current)
    files: int = 0
    files_current: int = 0
    files_missing: int = 0
    unreadable: list[str] = field(default_factory=list)  # "table.column #id", "attachment #id"

    @property
    def fields_rotated(self) -> int:
        return sum(self.fields.values())


def encrypted_columns() -> dict[sa.Table, list[sa.Column]]:
    """Every table with columns of type `EncryptedText`, and those columns."""
    found = {}
    for table in db.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, EncryptedText)]
        if columns:
            found[table] = columns
    return found


def _raw(column: sa.Column):
    """The stored token itself, past the column type's decryption (and encryption)."""
    return sa.type_coerce(column, sa.Text)


def _after(key_columns: list[sa.Column], last: tuple | None):
    if last is None:
        return sa.true()
    if len(key_columns) == 1:
        return key_columns[0] > last[0]
    return sa.tuple_(*key_columns) > sa.tuple_(*last)


def _rotate_table(
    table: sa.Table,
    columns: list[sa.Column],
    result: Rotation,
    batch_size: int,
    progress: Progress = silent,
) -> None:
    key_columns = list(table.primary_key.columns)
    # Rewriting a token is not a change of the row: columns with an `onupdate`
    # (updated_at) keep their value.
    unchanged = {c.name: c for c in table.columns if c.onupdate is not None}
    result.fields.setdefault(table.name, 0)
    last = None
    while True:
        rows = db.session.execute(
            sa.select(*key_columns, *(_raw(c) for c in columns))
            .where(_after(key_columns, last))
            .order_by(*key_columns)
            .limit(batch_size)
        ).all()
        if not rows:
            break
        for row in rows:
            key = tuple(row[: len(key_columns)])
            changes = {}
            for column, token in zip(columns, row[len(key_columns) :], strict=True):
                if token is None:
                    continue
                try:
                    rotated = reencrypt(token.encode("ascii"))
                except InvalidToken:
                    result.unreadable.append(f"{table.name}.{column.name} #{_key_text(key)}")
                    continue
                if rotated is None:
                    result.fields_current += 1
                else:
                    changes[column] = (token, rotated.decode("ascii"))
            if changes:
                _write(table, key_columns, key, changes, unchanged, result)
        last = tuple(rows[-1][: len(key_columns)])
        db.session.commit()
        progress(table.name, result.fields[table.name], None)


def _key_text(key: tuple) -> str:
    return ",".join(str(part) for part in key)


def _write(table, key_columns, key, changes, unchanged, result: Rotation) -> None:
    """Write the new tokens only where the old ones are still stored.

    A row the application changed since it was read keeps what the application
    wrote: that is already under the first key (it encrypts with no other).
    """
    statement = (
        sa.update(table)
        .where(*(c == v for c, v in zip(key_columns, key, strict=True)))
        .where(*(_raw(c) == old for c, (old, _new) in changes.items()))
        .values(
            {c.name: sa.type_coerce(new, sa.Text) for c, (_old, new) in changes.items()} | unchanged
        )
    )
    if db.session.execute(statement).rowcount:
        result.fields[table.name] += len(changes)
    else:
        result.fields_changed += len(changes)


def _rotate_files(result: Rotation, batch_size: int, progress: Progress = silent) -> None:
    last = 0
    while True:
        # Locked until the batch commits: an erasure that removes one of these
        # files waits, so that the rotation never writes a removed file back.
        ids = db.session.scalars(
            sa.select(Attachment.id)
            .where(Attachment.id > last)
            .order_by(Attachment.id)
            .limit(min(batch_size, FILE_BATCH_SIZE))
            .with_for_update()
        ).all()
        if not ids:
            break
        for attachment_id in ids:
            try:
                rewritten = attachments.reencrypt_file(attachment_id)
            except InvalidToken:
                result.unreadable.append(f"attachment #{attachment_id}")
                continue
            if rewritten is None:
                result.files_missing += 1
            elif rewritten:
                result.files += 1
            else:
                result.files_current += 1
        last = ids[-1]
        db.session.commit()
        progress("attachment", result.files + result.files_current + result.files_missing, None)


def rotate_all(batch_size: int = BATCH_SIZE, progress: Progress = silent) -> Rotation:
    """Encrypt every encrypted value and every file again under the first configured key."""
    result = Rotation()
    tables = encrypted_columns()
    # The check the app starts with (`preflight`) moves last, once everything else has: a
    # rotation that was cut short leaves it under the old key, and the old key is then still
    # asked for at start.
    last = [(table, columns) for table, columns in tables.items() if table.name == "secret_check"]
    for table, columns in tables.items():
        if table.name != "secret_check":
            _rotate_table(table, columns, result, batch_size, progress)
    _rotate_files(result, batch_size, progress)
    for table, columns in last:
        _rotate_table(table, columns, result, batch_size, progress)
    return result
