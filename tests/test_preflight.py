"""The app refuses to start, with one line and no traceback, when a setting is malformed
or missing, when the database is not at the schema of this code, and when the pepper or
the keys are not the ones the database's data were made with; `stagepact check` says
the same without starting."""

from __future__ import annotations

import os
import subprocess  # nosec B404
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from cryptography.fernet import Fernet

from config import TestConfig
from stagepact import create_app, jobs, preflight
from stagepact.extensions import db
from stagepact.models import SecretCheck
from tests.databases import alembic_config, engine_for
from tests.servers import run_project_command

ROOT = Path(__file__).resolve().parent.parent
KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()
PEPPER = "the-pepper-of-this-installation"


def _start(url: str, **settings):
    """Start the app on `url` with the checks of a real start."""
    overrides = {
        "SQLALCHEMY_DATABASE_URI": url,
        "CHECK_DATABASE_AT_START": True,
        "ENCRYPTION_KEYS": [KEY_A],
        "RECEIPT_PEPPER": PEPPER,
    }
    return create_app(TestConfig, overrides | settings)


def _refusal(url: str, **settings) -> str:
    with pytest.raises(preflight.Refused) as refused:
        _start(url, **settings)
    message = refused.value.code
    assert message.startswith("Het meldpunt start niet: ") and "\n" not in message
    return message


@pytest.fixture
def migrated(new_database):
    url = new_database()
    command.upgrade(alembic_config(url), "head")
    return url


def test_a_database_at_the_head_starts_and_remembers_its_secrets(migrated):
    app = _start(migrated)
    with app.app_context():
        check = db.session.get(SecretCheck, 1)
        assert check.pepper_check == preflight.pepper_check()
        assert check.key_check == preflight.KEY_CHECK_TEXT
        db.session.remove()
    _start(migrated)  # and the next start finds them the same


def test_a_database_one_migration_behind_is_refused_with_both_revisions(new_database):
    url = new_database()
    command.upgrade(alembic_config(url), "0023")
    message = _refusal(url)
    assert "0023" in message and preflight.head_revision() in message
    assert "alembic upgrade head" in message


def test_a_database_without_a_schema_is_refused(new_database):
    assert "heeft nog geen schema" in _refusal(new_database())


def test_an_unreachable_database_is_refused_without_its_address():
    url = "postgresql+psycopg://stagepact:geheim@127.0.0.1:9/stagepact?connect_timeout=2"
    message = _refusal(url)
    assert "niet bereikbaar (DATABASE_URL)" in message
    assert "geheim" not in message and "127.0.0.1" not in message


def test_another_pepper_is_refused_before_it_turns_away_every_receipt_code(migrated):
    _start(migrated)
    message = _refusal(migrated, RECEIPT_PEPPER="a-pepper-from-another-installation")
    assert "RECEIPT_PEPPER is niet de pepper waarmee deze database is gemaakt" in message
    assert PEPPER not in message


def test_a_missing_key_is_refused_and_a_rotated_one_is_not(migrated):
    _start(migrated)  # made under key A
    assert "er ontbreekt een (oude) sleutel" in _refusal(migrated, ENCRYPTION_KEYS=[KEY_B])

    app = _start(migrated, ENCRYPTION_KEYS=[KEY_B, KEY_A])  # B first, A still reads
    with app.app_context():
        jobs.rotate_key(100)
        db.session.remove()
    _start(migrated, ENCRYPTION_KEYS=[KEY_B])  # after rotate-key, A may go
    assert "ontbreekt" in _refusal(migrated, ENCRYPTION_KEYS=[KEY_A])


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"ENCRYPTION_KEYS": []}, "ENCRYPTION_KEYS bevat geen sleutel"),
        ({"ENCRYPTION_KEYS": [KEY_A, "not-a-key"]}, "sleutel 2 in ENCRYPTION_KEYS is geen"),
        ({"ENCRYPTION_KEYS": [KEY_A[:-2] + "=="]}, "sleutel 1 in ENCRYPTION_KEYS is geen"),
        ({"RECEIPT_PEPPER": "kort"}, "RECEIPT_PEPPER is korter dan 16 tekens"),
    ],
)
def test_malformed_keys_and_pepper_are_refused_before_the_database_is_asked(settings, expected):
    # The database is never reached: a malformed setting is found first.
    message = _refusal("postgresql+psycopg://nobody@127.0.0.1:9/none", **settings)
    assert expected in message
    assert "not-a-key" not in message and KEY_A not in message


# --- The command line: one line, no traceback -------------------------------------


def _flask(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_URL", "STAGEPACT_", "ENCRYPTION_", "RECEIPT_"))
    }
    environment.update(
        {"STAGEPACT_ENV": "development", "ENCRYPTION_KEYS": KEY_A, "RECEIPT_PEPPER": PEPPER}
    )
    environment.update(env)
    return run_project_command(["flask", "--app", "app", *args], environment)


def _one_line_refusal(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Het meldpunt start niet: "), result.stderr
    return lines[0]


def test_check_says_what_it_found_and_exits_zero(migrated):
    result = _flask("stagepact", "check", DATABASE_URL=migrated)
    assert result.returncode == 0, result.stderr
    assert f"schema op {preflight.head_revision()}" in result.stdout
    assert "pepper en sleutels passen bij de database" in result.stdout


def test_check_and_every_command_refuse_a_database_behind_in_one_line(new_database):
    url = new_database()
    command.upgrade(alembic_config(url), "0023")
    line = _one_line_refusal(_flask("stagepact", "check", DATABASE_URL=url))
    assert "0023" in line
    assert _one_line_refusal(_flask("stagepact", "status", DATABASE_URL=url)) == line


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"ENCRYPTION_KEYS": "dit-is-geen-sleutel"}, "sleutel 1 in ENCRYPTION_KEYS is geen"),
        ({"MAIL_PORT": "vijfentwintig"}, "MAIL_PORT moet een geheel getal zijn"),
        ({"STAGEPACT_ENV": "prodution"}, "STAGEPACT_ENV moet development, test of production"),
        ({"STAGEPACT_ENV": "production"}, "zet voor productie (niet de ontwikkelwaarde): "),
    ],
)
def test_a_bad_setting_is_one_line_on_the_command_line(env, expected):
    line = _one_line_refusal(_flask("stagepact", "check", **env))
    assert expected in line
    assert "dit-is-geen-sleutel" not in line


def test_alembic_migrates_a_database_behind_although_the_app_would_refuse_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'behind.sqlite'}"
    command.upgrade(alembic_config(url), "0023")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = run_project_command(["alembic", "-x", f"database_url={url}", "upgrade", "head"], env)
    assert result.returncode == 0, result.stderr
    engine = engine_for(url)
    with engine.connect() as conn:
        assert preflight.revision_of(conn) == preflight.head_revision()
    engine.dispose()


def test_a_database_with_data_but_no_check_yet_adopts_only_secrets_that_read_it(migrated):
    from stagepact.models import SecretCheck
    from tests.factories import make_user

    app = _start(migrated)
    with app.app_context():
        make_user(email="hanna@school.example")
        db.session.execute(sa.delete(SecretCheck))  # as on a database upgraded to 0024
        db.session.commit()
        db.session.remove()
    assert "RECEIPT_PEPPER is niet de pepper" in _refusal(migrated, RECEIPT_PEPPER="x" * 32)
    assert "ontbreekt" in _refusal(migrated, ENCRYPTION_KEYS=[KEY_B])
    app = _start(migrated)  # the right ones: adopted now
    with app.app_context():
        assert db.session.get(SecretCheck, 1) is not None
        db.session.remove()
