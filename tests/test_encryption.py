"""Personal fields are encrypted at rest, readable through the application, and keys rotate."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken

from stagepact import workflow
from stagepact.extensions import db
from stagepact.models import Case, Message, OutboxMail
from tests.factories import make_case, make_institution, make_user

PERSONAL = {
    "narrative": "Verhaal-Okapi: de praktijkopleider noemde mij Zandhaas-jv3 waar iedereen bij was.",
    "reporter_name": "Wilhelmina Tjoe-Ramdjan",
    "student_number": "JV3449921",
    "email": "wilhelmina.tjoe-jv3@voorbeeld.nl",
    "phone": "+31 6 24681357",
    "notify_email": "nieuws-jv3-wilhelmina@voorbeeld.nl",
    "student_message": "Student schrijft: het was bij Hoveniersbedrijf Kwikstaart-jv3.",
    "handler_message": "Behandelaar vraagt: kun je Kwikstaart-antwoord-jv3 toelichten?",
    "note": "Notitie: eigenaar Kwikstaart-jv3 ontkent alles.",
}


def _all_stored_text() -> str:
    """Every value of every row of every table, read with raw SQL past the ORM's decryption."""
    values = []
    with db.engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            query = sa.text(f'SELECT * FROM "{table}"')  # noqa: S608 (names from the schema)
            for row in conn.execute(query):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        value = bytes(value).decode("latin-1")
                    values.append(str(value))
    return "\n".join(values)


def _sqlite_database_bytes() -> bytes:
    """The whole SQLite database as the file on disk would hold it (also for :memory:)."""
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "copy.sqlite"
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM INTO ?", (str(copy),))
        return copy.read_bytes()


def _named_report_with_everything(client) -> int:
    institution = make_institution()
    handler = make_user(institution=institution)
    db.session.commit()
    response = client.post(
        f"/meldpunt/{institution.slug}/melden",
        data={
            "narrative": PERSONAL["narrative"],
            "reporter_role": "self",
            "anonymity": "named",
            "reporter_name": PERSONAL["reporter_name"],
            "student_number": PERSONAL["student_number"],
            "email": PERSONAL["email"],
            "phone": PERSONAL["phone"],
            "contact_preference": "email",
            "consent_contact": "y",
            "grounds": ["origin"],
        },
    )
    assert response.status_code == 200
    assert 'class="receipt-code"' in response.get_data(as_text=True)
    assert (
        client.post(
            "/volgen/melding/meldingen-per-mail", data={"notify_email": PERSONAL["notify_email"]}
        ).status_code
        == 302
    )
    assert (
        client.post(
            "/volgen/melding/bericht", data={"body": PERSONAL["student_message"]}
        ).status_code
        == 302
    )
    case = db.session.scalar(sa.select(Case))
    workflow.acknowledge(case, handler)
    workflow.send_message(case, handler, PERSONAL["handler_message"])
    workflow.add_note(case, handler, PERSONAL["note"])
    db.session.commit()
    return case.id


# Parts of the values above, long enough never to turn up by chance in ciphertext.
MARKERS = ("kwikstaart", "zandhaas", "wilhelmina")


def test_database_holds_no_personal_value_in_plaintext(client):
    _named_report_with_everything(client)

    stored = _all_stored_text()

    for name, value in PERSONAL.items():
        assert value not in stored, f"{name} is stored in plaintext"
    for marker in MARKERS:
        assert marker not in stored.lower()
    # The personal columns hold Fernet tokens (not nothing): the test is looking at the data.
    raw = db.session.execute(sa.text("SELECT narrative, reporter_name FROM report_case")).one()
    assert raw.narrative.startswith("gAAAA") and raw.reporter_name.startswith("gAAAA")
    assert db.session.scalar(sa.text("SELECT count(*) FROM case_message")) == 3
    assert db.session.scalar(sa.text("SELECT count(*) FROM outbox_mail")) >= 3


def test_sqlite_database_file_holds_no_personal_value(client):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("a database file exists only on SQLite")
    _named_report_with_everything(client)

    image = _sqlite_database_bytes()

    assert b"SQLite format 3" in image[:16]
    assert b"Testcollege" in image  # plaintext columns are there to be found
    for name, value in PERSONAL.items():
        assert value.encode("utf-8") not in image, f"{name} is in the database file"
    for marker in MARKERS:
        assert marker.encode() not in image.lower()


def test_orm_reads_every_personal_value_back(client):
    case_id = _named_report_with_everything(client)
    db.session.remove()  # nothing cached: read from the database

    case = db.session.get(Case, case_id)
    assert case.narrative == PERSONAL["narrative"]
    assert case.reporter_name == PERSONAL["reporter_name"]
    assert case.student_number == PERSONAL["student_number"]
    assert case.email == PERSONAL["email"]
    assert case.phone == PERSONAL["phone"]
    assert case.notify_email == PERSONAL["notify_email"]
    bodies = {m.kind: m.body for m in case.messages}
    assert bodies == {
        Message.FROM_STUDENT: PERSONAL["student_message"],
        Message.TO_STUDENT: PERSONAL["handler_message"],
        Message.NOTE: PERSONAL["note"],
    }
    recipients = set(db.session.scalars(sa.select(OutboxMail.recipient)))
    assert PERSONAL["notify_email"] in recipients


@pytest.fixture
def configured_keys(app):
    """Restore the configured keys whatever the test does to them."""
    original = list(app.config["ENCRYPTION_KEYS"])
    yield original
    app.config["ENCRYPTION_KEYS"] = original
    db.session.rollback()


def _raw_narrative(case_id: int) -> str:
    return db.session.execute(
        sa.text("SELECT narrative FROM report_case WHERE id = :id"), {"id": case_id}
    ).scalar_one()


def test_rotated_key_reads_old_values_and_writes_new_ones(app, configured_keys):
    old_key = configured_keys[0]
    written_before, _ = make_case(narrative="Geschreven onder de oude sleutel.")
    untouched, _ = make_case(narrative="Blijft onder de oude sleutel staan.")
    db.session.commit()
    rewritten_id, untouched_id = written_before.id, untouched.id
    new_key = Fernet.generate_key().decode()

    app.config["ENCRYPTION_KEYS"] = [new_key, old_key]
    db.session.remove()
    case = db.session.get(Case, rewritten_id)
    assert case.narrative == "Geschreven onder de oude sleutel."
    case.narrative = "Herschreven onder de nieuwe sleutel."
    db.session.commit()

    token = _raw_narrative(rewritten_id).encode()
    assert Fernet(new_key.encode()).decrypt(token) == b"Herschreven onder de nieuwe sleutel."
    with pytest.raises(InvalidToken):
        Fernet(old_key.encode()).decrypt(token)
    Fernet(old_key.encode()).decrypt(_raw_narrative(untouched_id).encode())

    # Once the old key is retired, the rewritten value still reads; the old one cannot.
    app.config["ENCRYPTION_KEYS"] = [new_key]
    db.session.remove()
    assert db.session.get(Case, rewritten_id).narrative == "Herschreven onder de nieuwe sleutel."
    with pytest.raises(RuntimeError, match="cannot be read"):
        db.session.get(Case, untouched_id)
