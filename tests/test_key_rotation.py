"""rotate-key: every encrypted field and file is encrypted again under the first key, so that
the old key can be removed."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken

from stagepact import api_tokens, attachments, investigations, key_rotation
from stagepact.audit import verify_chain
from stagepact.extensions import db
from stagepact.models import Attachment, AttachmentContent, AuditEvent, Case
from stagepact.vocab import Role
from tests.factories import make_case, make_case_with_everything, make_user
from tests.uploads import stored_bytes

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()
KEY_C = Fernet.generate_key().decode()

# Encrypted columns the test data fills; the rotation itself finds them from the metadata.
FILLED = {
    ("user_account", "totp_secret"),
    ("report_case", "reporter_name"),
    ("report_case", "student_number"),
    ("report_case", "email"),
    ("report_case", "phone"),
    ("report_case", "notify_email"),
    ("report_case", "narrative"),
    ("report_case", "programme"),
    ("report_case", "incident_period"),
    ("report_case", "company_text"),
    ("api_token", "name"),
    ("case_message", "body"),
    ("outbox_mail", "recipient"),
    ("outbox_mail", "body"),
    ("attachment", "original_name"),
    ("referral", "summary"),
    ("referral", "answer_note"),
    ("investigation", "summary"),
    ("investigation", "student_name"),
    ("investigation", "student_email"),
    ("investigation", "student_phone"),
    ("investigation", "decision_reasoning"),
    ("investigation_message", "body"),
    ("recognition_change", "reason"),
}


@pytest.fixture
def keys(app):
    """Set ENCRYPTION_KEYS for the test; the configured keys come back afterwards."""
    original = list(app.config["ENCRYPTION_KEYS"])

    def configure(*new_keys: str) -> None:
        db.session.remove()  # nothing read under other keys stays cached
        app.config["ENCRYPTION_KEYS"] = list(new_keys)

    yield configure
    db.session.rollback()
    app.config["ENCRYPTION_KEYS"] = original


def rotate_key(runner, *args: str):
    result = runner.invoke(args=["stagepact", "rotate-key", *args])
    db.session.expire_all()
    return result


def _raw(column: sa.Column):
    return sa.type_coerce(column, sa.Text)


def _tokens() -> dict[tuple, str]:
    """Every stored token of every encrypted column: (table, column, primary key) -> token."""
    tokens = {}
    for table, columns in key_rotation.encrypted_columns().items():
        [key] = table.primary_key.columns
        for column in columns:
            for row_key, token in db.session.execute(sa.select(key, _raw(column))):
                if token is not None:
                    tokens[(table.name, column.name, row_key)] = token
    return tokens


def _plaintexts() -> dict[tuple, str]:
    """The same values as the application reads them (decrypted by the column type)."""
    values = {}
    for table, columns in key_rotation.encrypted_columns().items():
        [key] = table.primary_key.columns
        for column in columns:
            for row_key, value in db.session.execute(sa.select(key, column)):
                if value is not None:
                    values[(table.name, column.name, row_key)] = value
    return values


def _stored_files():
    """(id,) of every attachment, read past its encrypted name."""
    return db.session.execute(sa.select(Attachment.id).order_by(Attachment.id)).all()


def _files() -> dict[int, bytes]:
    """Per attachment: the stored (encrypted) bytes."""
    return {row.id: stored_bytes(row.id) for row in _stored_files()}


def _file_contents() -> dict[int, bytes]:
    """Per attachment: its content, decrypted with the configured keys."""
    return {row.id: attachments.read(row) for row in _stored_files()}


def _everything_under_key_a() -> tuple[dict, dict]:
    """Data of every kind written while KEY_A is the only key; its plaintexts and file contents."""
    full = make_case_with_everything()
    full.handler.totp_secret = "JBSWY3DPEHPK3PXP"
    api_tokens.create(make_user(Role.MONITOR), "Laptop van Jan de Vries", actor="system")
    reviewer = full.investigation.decided_by
    investigations.send_message(full.investigation, reviewer, "Wanneer spreken we het bedrijf?")
    make_case(narrative="Een tweede melding.")
    db.session.commit()
    return _plaintexts(), _file_contents()


def test_after_rotation_everything_reads_with_the_new_key_alone_and_not_with_the_old(
    app, runner, keys
):
    keys(KEY_A)
    plaintexts, contents = _everything_under_key_a()
    assert {(t, c) for t, c, _key in plaintexts} >= FILLED
    tokens_before, files_before = _tokens(), _files()
    for token in tokens_before.values():
        Fernet(KEY_A.encode()).decrypt(token.encode())
    updated_at = {c.id: c.updated_at for c in db.session.scalars(sa.select(Case))}

    keys(KEY_B, KEY_A)
    result = rotate_key(runner, "--batch-size", "3")

    assert result.exit_code == 0, result.output
    assert f"{len(tokens_before)} veld(en) opnieuw versleuteld" in result.output
    assert f"{len(files_before)} bestand(en) opnieuw versleuteld" in result.output
    assert "report_case: " in result.output and "case_message: " in result.output
    tokens_after, files_after = _tokens(), _files()
    assert tokens_after.keys() == tokens_before.keys()
    for where, token in tokens_after.items():
        assert token != tokens_before[where], where
        Fernet(KEY_B.encode()).decrypt(token.encode())
    for attachment_id, stored in files_after.items():
        assert stored != files_before[attachment_id]
        Fernet(KEY_B.encode()).decrypt(stored)
    # Rewriting a token is not a change of the report.
    assert {c.id: c.updated_at for c in db.session.scalars(sa.select(Case))} == updated_at

    keys(KEY_B)
    assert _plaintexts() == plaintexts
    assert _file_contents() == contents
    case = db.session.scalars(sa.select(Case).order_by(Case.id)).first()
    assert case.narrative and case.messages[0].body

    keys(KEY_A)
    with pytest.raises(RuntimeError, match="cannot be read"):
        _plaintexts()
    db.session.rollback()
    with pytest.raises(InvalidToken):
        _file_contents()


def test_rotation_is_an_audit_event_of_counts_and_a_second_run_changes_nothing(app, runner, keys):
    keys(KEY_A)
    _everything_under_key_a()
    keys(KEY_B, KEY_A)
    assert rotate_key(runner).exit_code == 0
    tokens, files = _tokens(), _files()

    again = rotate_key(runner)

    assert again.exit_code == 0, again.output
    assert f"0 veld(en) opnieuw versleuteld, {len(tokens)} waren al" in again.output
    assert f"0 bestand(en) opnieuw versleuteld, {len(files)} waren al" in again.output
    assert (_tokens(), _files()) == (tokens, files)
    first, second = db.session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.action == "encryption.key_rotated")
        .order_by(AuditEvent.id)
    ).all()
    assert first.actor_type == "system"
    details = json.loads(first.details)
    assert details["fields"] == len(tokens) and details["files"] == len(files)
    assert details["keys"] == 2 and details["unreadable"] == 0
    assert json.loads(second.details)["fields"] == 0
    assert verify_chain()[1] is None


def test_a_value_no_configured_key_reads_stops_the_old_key_from_being_removed(app, runner, keys):
    keys(KEY_C)
    lost, _code = make_case(narrative="Onder een sleutel die weg is.")
    db.session.commit()
    lost_id = lost.id
    keys(KEY_A)
    readable, _code = make_case(narrative="Onder de oude sleutel.")
    db.session.commit()
    readable_id = readable.id

    keys(KEY_B, KEY_A)
    result = rotate_key(runner)

    assert result.exit_code == 1
    assert f"report_case.narrative #{lost_id}" in result.output
    assert "Haal nog geen oude sleutel weg" in result.output
    keys(KEY_B)
    assert db.session.get(Case, readable_id).narrative == "Onder de oude sleutel."


def test_a_value_the_application_rewrote_meanwhile_keeps_what_it_wrote(app, keys):
    keys(KEY_A)
    case, _code = make_case(narrative="Het eerste verhaal.")
    db.session.commit()
    case_id = case.id
    keys(KEY_B, KEY_A)
    table = Case.__table__
    stale = db.session.execute(
        sa.select(_raw(table.c.narrative)).where(table.c.id == case_id)
    ).scalar_one()
    # The application changes the narrative after the rotation read it.
    fresh = db.session.get(Case, case_id)
    fresh.narrative = "Door de applicatie herschreven."
    db.session.commit()

    result = key_rotation.Rotation(fields={"report_case": 0})
    key_rotation._write(
        table,
        [table.c.id],
        (case_id,),
        {table.c.narrative: (stale, Fernet(KEY_B.encode()).encrypt(b"oud").decode())},
        {"updated_at": table.c.updated_at},
        result,
    )
    db.session.commit()

    assert (result.fields["report_case"], result.fields_changed) == (0, 1)
    keys(KEY_B)
    assert db.session.get(Case, case_id).narrative == "Door de applicatie herschreven."


def test_a_missing_file_is_counted_and_the_rest_rotated(app, runner, keys):
    keys(KEY_A)
    full = make_case_with_everything()
    db.session.commit()
    gone, kept = full.files
    db.session.execute(
        sa.delete(AttachmentContent).where(AttachmentContent.attachment_id == gone.id)
    )
    db.session.commit()
    kept_id = kept.id

    keys(KEY_B, KEY_A)
    result = rotate_key(runner)

    assert result.exit_code == 0, result.output
    assert "1 bestand(en) opnieuw versleuteld, 0 waren al met de eerste sleutel versleuteld, " in (
        result.output
    )
    assert "1 ontbraken" in result.output
    keys(KEY_B)
    assert attachments.read(db.session.get(Attachment, kept_id))


def test_every_encrypted_column_is_found_from_the_metadata():
    found = {
        (table.name, column.name)
        for table, columns in key_rotation.encrypted_columns().items()
        for column in columns
    }
    assert found >= FILLED
    assert ("report_case", "number") not in found  # plain columns are left alone
