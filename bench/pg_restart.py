"""Report submissions while PostgreSQL restarts (issue 16), beside the bare stack.

    .venv/bin/python bench/pg_restart.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
        [--seconds 20] [--restart-at 5] [--clients 6] [--restart-command "pg_ctlcluster 15 main restart"]

Two runs against the same PostgreSQL server, each with its own scratch database:

1. **the bare stack**: gunicorn serving a Flask app of a few lines that inserts the
   posted text with SQLAlchemy, as a plain Flask app would (no retry, no pre-ping);
2. **the meldpunt**: gunicorn with deploy/gunicorn.conf.py in the production
   configuration (Redis for the rate limits), students sending the report form.

In each run, `--clients` students send reports without pause; `--restart-at` seconds in,
PostgreSQL is restarted with `--restart-command` (fast shutdown: connections are cut).
Printed side by side: answers by status, answers that lost the typed text (anything but
a receipt, or a 503 that shows the text again), accepted reports lost (a code shown
that opens no case), cases whose student never saw the code, and how long after the
restart began the last failure was.

Needs PostgreSQL on this machine (the restart) and Redis.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shlex
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import (  # noqa: E402
    BIN,
    Browser,
    ScratchDatabase,
    run_project_command,
    start_node,
)

BARE_APP = textwrap.dedent(
    """
    import os
    import sqlalchemy as sa
    from flask import Flask, request

    app = Flask(__name__)
    engine = sa.create_engine(os.environ["BARE_DATABASE_URL"])

    @app.post("/report")
    def report():
        with engine.begin() as conn:
            number = conn.execute(
                sa.text("INSERT INTO report (narrative) VALUES (:n) RETURNING id"),
                {"n": request.form["narrative"]},
            ).scalar_one()
        return f"<p class=\\"receipt-code\\">{number}</p>"

    @app.get("/healthz")
    def healthz():
        return "ok"
    """
)


@dataclass
class Run:
    name: str
    answers: list[tuple[float, float, int, str, str]] = field(default_factory=list)
    restart_started: float = 0.0
    restart_took: float = 0.0
    form_not_served: int = 0  # the empty form itself did not load: nothing typed yet
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, started, ended, status, narrative, body):
        with self.lock:
            self.answers.append((started, ended, status, narrative, body))


def _student(run: Run, base: str, slug: str | None, stop: threading.Event, index: int):
    sent = 0
    while not stop.is_set():
        sent += 1
        narrative = f"Melding {index}-{sent}-{secrets.token_hex(4)}: de werkgever wilde mij niet vanwege mijn hoofddoek."
        browser = Browser(base, address=f"10.{index}.{sent // 250 % 250}.{sent % 250 + 1}")
        started = time.monotonic()
        try:
            if slug is None:
                answer = browser.post("/report", {"narrative": narrative})
            else:
                form = browser.get(f"/meldpunt/{slug}/melden")
                if form.status != 200:
                    with run.lock:
                        run.form_not_served += 1
                    time.sleep(0.1)
                    continue
                answer = browser.post(
                    f"/meldpunt/{slug}/melden",
                    {
                        "csrf_token": form.hidden("csrf_token"),
                        "submission_id": form.hidden("submission_id"),
                        "narrative": narrative,
                    },
                )
            run.add(started, time.monotonic(), answer.status, narrative, answer.text)
        except OSError as error:
            run.add(started, time.monotonic(), 0, narrative, str(error))
            time.sleep(0.05)


def _load(run: Run, base: str, slug: str | None, args) -> None:
    stop = threading.Event()
    threads = [
        threading.Thread(target=_student, args=(run, base, slug, stop, i), daemon=True)
        for i in range(args.clients)
    ]
    for thread in threads:
        thread.start()
    time.sleep(args.restart_at)
    run.restart_started = time.monotonic()
    subprocess.run(shlex.split(args.restart_command), check=True, capture_output=True)  # noqa: S603
    run.restart_took = time.monotonic() - run.restart_started
    time.sleep(max(0.0, args.seconds - args.restart_at - run.restart_took))
    stop.set()
    for thread in threads:
        thread.join(timeout=60)


def _codes(body: str) -> str | None:
    found = re.search(r'class="receipt-code"[^>]*>([\d ]+)<', body)
    return found.group(1).replace(" ", "") if found else None


def _summary(run: Run, opened: dict[str, bool], committed: set[str]) -> dict[str, str]:
    statuses = Counter(status for _s, _e, status, _n, _b in run.answers)
    receipts = {
        narrative: _codes(body) for _s, _e, status, narrative, body in run.answers if status == 200
    }
    kept = sum(
        1 for _s, _e, status, narrative, body in run.answers if status == 503 and narrative in body
    )
    lost_text = sum(
        1
        for _s, _e, status, narrative, body in run.answers
        if not (status == 200 and _codes(body)) and not (status == 503 and narrative in body)
    )
    failures = [ended for _s, ended, status, _n, _b in run.answers if status != 200]
    last_failure = max(failures) - run.restart_started if failures else 0.0
    return {
        "answers": str(len(run.answers)),
        "by status": ", ".join(f"{k or 'dropped'}: {v}" for k, v in sorted(statuses.items())),
        "503 with the text shown again": str(kept),
        "lost the typed text": str(lost_text),
        "accepted, code opens nothing": str(
            sum(1 for code in receipts.values() if not opened.get(code or "", False))
        ),
        "committed, code never shown": str(len(committed - set(receipts))),
        "empty form not served (retried)": str(run.form_not_served),
        "slowest answer": f"{max((e - s for s, e, *_ in run.answers), default=0):.1f} s",
        "restart took": f"{run.restart_took:.1f} s",
        "last failure after restart began": f"{last_failure:.1f} s",
    }


def bare_stack(args, server_url: str, scratch: Path) -> dict[str, str]:
    import sqlalchemy as sa

    database = ScratchDatabase(server_url, prefix="stagepact_bench_bare")
    engine = sa.create_engine(database.url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE report (id serial PRIMARY KEY, narrative text NOT NULL)")
    (scratch / "bare_app.py").write_text(BARE_APP)
    log = scratch / "bare.log"
    env = {**os.environ, "BARE_DATABASE_URL": database.url, "PYTHONPATH": str(scratch)}
    port = _port()
    with log.open("w") as out:
        server = subprocess.Popen(  # noqa: S603
            [
                str(BIN / "gunicorn"),
                "--workers",
                "3",
                "--bind",
                f"127.0.0.1:{port}",
                "bare_app:app",
            ],
            cwd=scratch,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait(f"http://127.0.0.1:{port}")
        run = Run("bare")
        _load(run, f"http://127.0.0.1:{port}", None, args)
    finally:
        server.terminate()
        server.wait(timeout=30)
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text("SELECT id, narrative FROM report")).all())
    engine.dispose()
    database.drop()
    opened = {str(number): True for number in rows}
    committed = set(rows.values())
    return _summary(run, opened, committed)


def meldpunt(args, server_url: str, scratch: Path) -> dict[str, str]:
    import sqlalchemy as sa
    from cryptography.fernet import Fernet

    from config import Config, TestConfig
    from stagepact import create_app
    from stagepact.extensions import db
    from stagepact.models import Case
    from stagepact.scoping import case_for_receipt_code
    from tests.factories import make_meldpunt

    database = ScratchDatabase(server_url, prefix="stagepact_bench_restart")
    keys = {
        "SECRET_KEY": secrets.token_urlsafe(32),
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "RECEIPT_PEPPER": secrets.token_urlsafe(32),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STAGEPACT_", "GUNICORN_"))}
    env.update(
        {
            **keys,
            "STAGEPACT_ENV": "production",
            "DATABASE_URL": database.url,
            "REDIS_URL": args.redis_url,
            "RATELIMIT_KEY_PREFIX": f"stagepact-bench-{secrets.token_hex(4)}",
            "MAIL_SERVER": "127.0.0.1",
            "PUBLIC_BASE_URL": "https://meldpunt.test",
            "TRUSTED_PROXIES": "1",
            "LOG_LEVEL": "WARNING",
            "GUNICORN_ACCESS_LOG": "/dev/null",
        }
    )
    done = run_project_command(["alembic", "upgrade", "head"], env)
    if done.returncode:
        sys.exit(done.stderr)
    app = create_app(
        TestConfig,
        {
            "SQLALCHEMY_DATABASE_URI": database.url,
            "ENCRYPTION_KEYS": [keys["ENCRYPTION_KEYS"]],
            "RECEIPT_PEPPER": keys["RECEIPT_PEPPER"],
            "RECEIPT_SCRYPT_N": Config.RECEIPT_SCRYPT_N,  # as the node hashed the codes
        },
    )
    with app.app_context():
        slug = make_meldpunt(name="Bench College").slug
        db.session.commit()
        db.engine.dispose()
    node = start_node(env, scratch, "meldpunt", workers=3)
    try:
        run = Run("meldpunt")
        _load(run, node.url, slug, args)
    finally:
        node.stop()
    errors = [line for line in node.output().splitlines() if '"ERROR"' in line]
    for line in errors[:3]:
        print("meldpunt error:", line[:2000])
    receipts = [_codes(body) for _s, _e, status, _n, body in run.answers if status == 200]
    with app.app_context():
        opened = {code: case_for_receipt_code(code) is not None for code in receipts if code}
        committed = set(db.session.scalars(sa.select(Case.narrative)))
        db.session.remove()
        db.engine.dispose()
    database.drop()
    return _summary(run, opened, committed)


def _port() -> int:
    from tests.servers import free_port

    return free_port()


def _wait(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if Browser(url).get("/healthz").status == 200:
                return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"{url} did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--restart-at", type=float, default=5)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument(
        "--restart-command",
        default="pg_ctlcluster --skip-systemctl-redirect 15 main restart -m fast",
    )
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        sys.exit("--database-url must point at the PostgreSQL server to restart")
    with tempfile.TemporaryDirectory(prefix="stagepact-restart-") as folder:
        scratch = Path(folder)
        print(
            f"{args.clients} students sending reports for {args.seconds:.0f} s; PostgreSQL restarted at {args.restart_at:.0f} s"
        )
        bare = bare_stack(args, args.database_url, scratch)
        ours = meldpunt(args, args.database_url, scratch)
    width = max(len(key) for key in bare)
    print(f"{'':<{width}}  {'bare stack':>28}  {'meldpunt':>28}")
    for key in bare:
        print(f"{key:<{width}}  {bare[key]:>28}  {ours[key]:>28}")


if __name__ == "__main__":
    main()
