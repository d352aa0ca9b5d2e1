"""The Alembic migrations build the schema the models describe, and every one reverses.

Each test migrates its own throwaway database: a file in tmp_path on SQLite,
or, when DATABASE_URL points at PostgreSQL, a scratch database created next to
the test database on the same server and dropped afterwards. The session's
test database is never touched.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from config import TestConfig
from stagepact import attachments, create_app, crypto
from stagepact.extensions import db
from stagepact.models import Attachment
from tests.databases import alembic_config, engine_for
from tests.helpers import insert_row


def current_revision(database_url: str) -> str | None:
    engine = engine_for(database_url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def table_names(database_url: str) -> set[str]:
    engine = engine_for(database_url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def schema_differences(database_url: str) -> list:
    engine = engine_for(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, db.metadata)
    finally:
        engine.dispose()


def constraint_and_index_names(database_url: str) -> dict[str, set[str | None]]:
    """Per table, the names of its primary key, foreign keys, unique and check
    constraints and indexes, as the database reports them."""
    engine = engine_for(database_url)
    try:
        inspector = sa.inspect(engine)
        names = {}
        for table in inspector.get_table_names():
            if table == "alembic_version":
                continue
            names[table] = {
                inspector.get_pk_constraint(table)["name"],
                *(fk["name"] for fk in inspector.get_foreign_keys(table)),
                *(uq["name"] for uq in inspector.get_unique_constraints(table)),
                *(ck["name"] for ck in inspector.get_check_constraints(table)),
                *(ix["name"] for ix in inspector.get_indexes(table)),
            }
        return names
    finally:
        engine.dispose()


def test_upgrade_to_head_builds_the_schema_of_the_models(new_database):
    url = new_database()
    command.upgrade(alembic_config(url), "head")

    assert schema_differences(url) == []


def test_migrated_schema_has_the_constraint_names_of_the_naming_convention(new_database):
    migrated, created = new_database(), new_database()
    command.upgrade(alembic_config(migrated), "head")
    engine = engine_for(created)
    db.metadata.create_all(engine)
    engine.dispose()

    names = constraint_and_index_names(migrated)

    assert names == constraint_and_index_names(created)
    assert all(None not in found for found in names.values())
    assert {
        "pk_report_case",
        "fk_report_case_institution_id_institution",
        "uq_report_case_receipt_hash",
        "ck_report_case_case_status",
        "ck_report_case_closed_has_outcome",
        "ix_report_case_inbox",
    } <= names["report_case"]
    assert "ck_user_account_role" in names["user_account"]


def test_every_revision_goes_up_and_down_one_step_at_a_time(new_database):
    url = new_database()
    config = alembic_config(url)
    revisions = list(reversed(list(ScriptDirectory.from_config(config).walk_revisions())))
    assert revisions, "no migrations found"

    for revision in revisions:
        command.upgrade(config, revision.revision)
        assert current_revision(url) == revision.revision
        command.downgrade(config, "-1")
        assert current_revision(url) == revision.down_revision
        command.upgrade(config, revision.revision)
        assert current_revision(url) == revision.revision

    assert schema_differences(url) == []
    command.downgrade(config, "base")
    assert table_names(url) == {"alembic_version"}
    assert current_revision(url) is None


def test_migration_0016_stops_on_a_value_outside_the_vocabulary_and_changes_nothing(
    new_database,
):
    url = new_database()
    config = alembic_config(url)
    command.upgrade(config, "0015")
    engine = engine_for(url)
    with engine.begin() as conn:
        insert_row(conn, "adv", id=1)
        insert_row(conn, "institution", id=1, adv_id=1)
        insert_row(
            conn,
            "report_case",
            id=1,
            institution_id=1,
            reporter_role="self",
            contact_preference="none",
            phase="stage",
            who="company",
        )
        insert_row(conn, "case_ground", case_id=1, ground="afkomst")
        insert_row(conn, "case_ground", case_id=1, ground="origin")

    with pytest.raises(Exception, match="outside the vocabulary") as refused:
        command.upgrade(config, "0016")

    message = str(refused.value)
    assert "report_case.phase = 'stage' (1 rows)" in message
    assert "case_ground.ground = 'afkomst' (1 rows)" in message
    assert "who" not in message and "'origin'" not in message
    assert current_revision(url) == "0015"

    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE report_case SET phase = 'internship'"))
        conn.execute(sa.text("DELETE FROM case_ground WHERE ground = 'afkomst'"))
    command.upgrade(config, "0016")
    assert current_revision(url) == "0016"
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        insert_row(conn, "case_ground", case_id=1, ground="afkomst")
    engine.dispose()


def test_the_database_refuses_a_code_outside_its_vocabulary(app):
    from stagepact.models import CaseGround
    from tests.factories import make_case

    case, _code = make_case()
    db.session.commit()
    db.session.add(CaseGround(case_id=case.id, ground="afkomst"))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()
    case.phase = "stage"
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_migration_0021_gives_existing_investigations_their_deadlines(new_database):
    url = new_database()
    config = alembic_config(url)
    command.upgrade(config, "0020")
    engine = engine_for(url)
    with engine.begin() as conn:
        insert_row(conn, "company", id=1)
        insert_row(conn, "user_account", id=1, role="sbb_reviewer")
        received = {"company_id": 1, "created_by_id": 1, "origin": "signal"}
        # A Friday: ten weekdays on is the Friday two weeks later.
        insert_row(conn, "investigation", id=1, created_at=datetime(2026, 3, 6, 9), **received)
        insert_row(
            conn,
            "investigation",
            id=2,
            status="investigating",
            created_at=datetime(2026, 3, 6, 9),
            started_at=datetime(2026, 11, 30, 9),
            **received,
        )

    command.upgrade(config, "0021")

    with engine.connect() as conn:
        rows = dict(
            (row.id, (row.start_due_on, row.decide_due_on))
            for row in conn.execute(
                sa.text("SELECT id, start_due_on, decide_due_on FROM investigation")
            )
        )
    engine.dispose()
    as_date = {
        k: tuple(date.fromisoformat(str(v)) if v else None for v in pair)
        for k, pair in rows.items()
    }
    assert as_date == {
        1: (date(2026, 3, 20), None),
        2: (date(2026, 3, 20), date(2027, 2, 28)),
    }


def test_migration_0025_moves_every_file_into_the_database_and_back(new_database, tmp_path):
    url = new_database()
    folder = tmp_path / "attachments"
    folder.mkdir()
    config = alembic_config(url, folder)
    command.upgrade(config, "0024")
    contents = {1: b"Het mailtje van het bedrijf.\n", 2: b"Een tweede bewijs.\n"}
    keys = {1: "a" * 32, 2: "b" * 32, 3: "c" * 32}  # 3 lost its file before the upgrade
    engine = engine_for(url)
    with engine.begin() as conn:
        for number, key in keys.items():
            insert_row(
                conn,
                "attachment",
                id=number,
                token=f"token-{number}-" + "x" * 24,
                storage_key=key,
                original_name=crypto.encrypt(f"bewijs-{number}.txt"),
                kind="txt",
                size=20,
            )
    for number, content in contents.items():
        (folder / f"{keys[number]}.bin").write_bytes(crypto.encrypt_bytes(content))

    # A missing file stops the migration before anything changes...
    with pytest.raises(RuntimeError, match="1 of 3 evidence files are not in"):
        command.upgrade(config, "0025")
    assert current_revision(url) == "0024"
    assert "attachment_content" not in table_names(url)
    # ...unless the operator says that it is known to be lost.
    config.attributes["allow_missing_files"] = True
    command.upgrade(config, "0025")

    migrated = create_app(TestConfig, {"SQLALCHEMY_DATABASE_URI": url})
    with migrated.app_context():
        for number, content in contents.items():
            assert attachments.read(db.session.get(Attachment, number)) == content
        with pytest.raises(FileNotFoundError):
            attachments.read(db.session.get(Attachment, 3))
        db.session.remove()
        db.engine.dispose()
    assert len(list(folder.iterdir())) == 2  # left in place until the operator removes them

    for path in folder.iterdir():
        path.unlink()
    command.downgrade(config, "0024")

    with engine.connect() as conn:
        stored = dict(conn.execute(sa.text("SELECT id, storage_key FROM attachment")).all())
    assert set(stored) == {1, 2, 3} and len(set(stored.values())) == 3
    for number, content in contents.items():
        assert crypto.decrypt_bytes((folder / f"{stored[number]}.bin").read_bytes()) == content
    assert not (folder / f"{stored[3]}.bin").exists()
    engine.dispose()
