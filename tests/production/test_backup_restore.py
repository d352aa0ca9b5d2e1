"""A backup made with deploy/backup.sh restores, as docs/operations.md says, into a fresh
database: the audit chain verifies, an old receipt code opens its report, every evidence
file decrypts, and `rotate-key` still works. Without the pepper and keys it was made
with, the restored database is refused at start, in one line, instead of silently
turning every student away.

Needs PostgreSQL (DATABASE_URL) with pg_dump and pg_restore; skipped without them unless
STAGEPACT_REQUIRE_PRODUCTION=1 (set by `.ci/run`).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess  # nosec B404

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from tests.servers import ROOT, ScratchDatabase, run_project_command

pytestmark = pytest.mark.production

REQUIRED = os.environ.get("STAGEPACT_REQUIRE_PRODUCTION") == "1"
EVIDENCE = b"Het mailtje van Bakkerij De Korf, bewaard voor de back-up.\n"


def _unavailable(reason: str):
    if REQUIRED:
        pytest.fail(f"the restore test cannot run: {reason}")
    pytest.skip(reason)


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _app(url: str, key: str, pepper: str):
    from config import TestConfig
    from stagepact import create_app

    return create_app(
        TestConfig,
        {"SQLALCHEMY_DATABASE_URI": url, "ENCRYPTION_KEYS": [key], "RECEIPT_PEPPER": pepper},
    )


def _done(app) -> None:
    from stagepact.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_backup_restores_with_its_keys_and_pepper_and_is_refused_without_them(tmp_path):
    from stagepact import attachments, scoping
    from stagepact.extensions import db
    from stagepact.models import Attachment, Institution
    from tests.factories import make_attachment, make_case

    server_url = os.environ.get("DATABASE_URL", "")
    if not server_url.startswith("postgresql"):
        _unavailable("DATABASE_URL does not point at PostgreSQL")
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        _unavailable("pg_dump and pg_restore are not installed")

    key, pepper = Fernet.generate_key().decode(), secrets.token_urlsafe(32)
    source = ScratchDatabase(server_url, prefix="stagepact_backup")
    restored = ScratchDatabase(server_url, prefix="stagepact_restored")
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STAGEPACT_")}
        env.update(
            {
                "STAGEPACT_ENV": "development",
                "DATABASE_URL": source.url,
                "ENCRYPTION_KEYS": key,
                "RECEIPT_PEPPER": pepper,
                "SECRET_KEY": secrets.token_urlsafe(32),
            }
        )
        for command in (
            ["alembic", "upgrade", "head"],
            ["flask", "--app", "app", "stagepact", "demo"],
        ):
            done = run_project_command(command, env)
            assert done.returncode == 0, done.stderr

        # A report whose code the test knows, with a file.
        app = _app(source.url, key, pepper)
        with app.app_context():
            school = db.session.scalars(sa.select(Institution).order_by(Institution.id)).first()
            case, code = make_case(school)
            make_attachment(case, EVIDENCE, "bewijs.txt")
            db.session.commit()
            case_id = case.id
            files = db.session.scalar(sa.select(sa.func.count(Attachment.id)))
        _done(app)
        assert files > 1  # the demo's files and this one

        # 1. Back up, 2. restore into a fresh database, as docs/operations.md says.
        backup = subprocess.run(  # noqa: S603
            [str(ROOT / "deploy" / "backup.sh"), str(tmp_path / "backups")],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert backup.returncode == 0, backup.stderr
        dump = backup.stdout.strip()
        assert re.fullmatch(r".*/stagepact-\d{8}T\d{6}Z\.dump", dump), dump
        assert oct(os.stat(dump).st_mode & 0o777) == "0o600"
        restore = subprocess.run(  # noqa: S603
            [  # noqa: S607
                "pg_restore",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                f"--dbname={_libpq(restored.url)}",
                dump,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert restore.returncode == 0, restore.stderr
        env["DATABASE_URL"] = restored.url

        # 3. Without the pepper or the key it was made with, the restore is refused.
        other_pepper = run_project_command(
            ["flask", "--app", "app", "stagepact", "check"],
            {**env, "RECEIPT_PEPPER": secrets.token_urlsafe(32)},
        )
        assert other_pepper.returncode == 1
        assert "RECEIPT_PEPPER is niet de pepper" in other_pepper.stderr
        assert "Traceback" not in other_pepper.stderr
        no_key = run_project_command(
            ["flask", "--app", "app", "stagepact", "check"],
            {**env, "ENCRYPTION_KEYS": Fernet.generate_key().decode()},
        )
        assert no_key.returncode == 1 and "er ontbreekt een (oude) sleutel" in no_key.stderr

        # With them: it starts, the audit chain holds, the old code opens its report.
        for command in (["check"], ["audit-verify"]):
            done = run_project_command(["flask", "--app", "app", "stagepact", *command], env)
            assert done.returncode == 0, done.stderr
        app = _app(restored.url, key, pepper)
        with app.app_context():
            assert scoping.case_for_receipt_code(code).id == case_id
            assert len(db.session.scalars(sa.select(Attachment)).all()) == files
        student = app.test_client()
        opened = student.post("/volgen", data={"code": code})
        assert opened.status_code == 302 and opened.headers["Location"].endswith("/volgen/melding")
        _done(app)

        # rotate-key moves everything to a new key; the old one can then go.
        new_key = Fernet.generate_key().decode()
        rotated = run_project_command(
            ["flask", "--app", "app", "stagepact", "rotate-key"],
            {**env, "ENCRYPTION_KEYS": f"{new_key},{key}"},
        )
        assert rotated.returncode == 0, rotated.stderr + rotated.stdout
        env["ENCRYPTION_KEYS"] = new_key
        checked = run_project_command(["flask", "--app", "app", "stagepact", "check"], env)
        assert checked.returncode == 0, checked.stderr
        app = _app(restored.url, new_key, pepper)
        with app.app_context():
            contents = [attachments.read(a) for a in db.session.scalars(sa.select(Attachment))]
            assert len(contents) == files and EVIDENCE in contents
            assert db.session.get(type(scoping.case_for_receipt_code(code)), case_id).narrative
        _done(app)
    finally:
        source.drop()
        restored.drop()
