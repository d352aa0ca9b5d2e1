"""Repeat the assessment's stall attack (issue 13) against gunicorn and measure a probe page.

    .venv/bin/python bench/upload_stall.py [--rounds N] [--database-url URL]
    .venv/bin/python bench/upload_stall.py --production --database-url postgresql+psycopg://...

Starts `gunicorn app:app` with 3 sync workers and gunicorn's default 30 s timeout, on
PostgreSQL when --database-url (or DATABASE_URL) is given, otherwise on a throwaway
SQLite file. With --production it runs the production configuration, as the assessment
did: STAGEPACT_ENV=production with fresh secrets, rate limits in Redis (--redis-url),
PostgreSQL (required), no reverse proxy. Seeds one institution and one case, opens the student's follow-up session
with its receipt code, then: measures a probe page (the accessibility statement) alone
for a baseline; sends the attack, 3 concurrent requests each carrying 10 PNGs of
7000 x 7000 pixels to the student's message form, for N rounds while the probe keeps
running; prints the probe's p50/p95 at baseline and during the attack, the attack
requests' answers and times, and whether gunicorn killed any worker.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import io
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from PIL import Image  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _png_7000() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (7000, 7000), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def _multipart(fields: dict[str, str], files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        out.write(value.encode() + b"\r\n")
    for filename, data in files:
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="attachments"; '
            f'filename="{filename}"\r\nContent-Type: image/png\r\n\r\n'.encode()
        )
        out.write(data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def _reset_database(url: str) -> None:
    if not url.startswith("postgresql"):
        return
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


def _seed(env: dict[str, str]) -> str:
    """One institution and one case; returns the case's receipt code."""
    os.environ.update(env)
    from stagepact import create_app
    from stagepact.extensions import db
    from tests.factories import make_case, make_institution

    app = create_app()
    with app.app_context():
        institution = make_institution(name="Bench College")
        _case, code = make_case(institution)
        db.session.commit()
        db.engine.dispose()
    return code


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def _probe(base: str, stop: threading.Event, samples: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(base + "/toegankelijkheid", timeout=60) as response:  # noqa: S310
                response.read()
        except (OSError, urllib.error.URLError):
            pass
        samples.append(time.perf_counter() - started)
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--baseline-seconds", type=float, default=8.0)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--production", action="store_true")
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    args = parser.parse_args()
    if args.production and not (args.database_url or "").startswith("postgresql"):
        parser.error("--production runs on PostgreSQL: give --database-url")

    scratch = Path(tempfile.mkdtemp(prefix="upload-stall-"))
    database_url = args.database_url or f"sqlite:///{scratch / 'bench.sqlite'}"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ATTACHMENT_DIR": str(scratch / "files"),
        "SECRET_KEY": secrets.token_urlsafe(32),
        "RATELIMIT_KEY_PREFIX": f"bench-{secrets.token_hex(4)}",
    }
    if args.production:
        from cryptography.fernet import Fernet

        env.update(
            STAGEPACT_ENV="production",
            ENCRYPTION_KEYS=Fernet.generate_key().decode(),
            RECEIPT_PEPPER=secrets.token_urlsafe(32),
            REDIS_URL=args.redis_url,
            MAIL_SERVER="127.0.0.1",  # the outbox is not sent during the bench
            PUBLIC_BASE_URL=f"https://127.0.0.1:{port}",
            TRUSTED_PROXIES="0",
        )
    _reset_database(database_url)
    subprocess.run(  # noqa: S603 (the project's own Alembic)
        [str(Path(sys.executable).parent / "alembic"), "upgrade", "head"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    code = _seed(env)
    log = scratch / "gunicorn.log"
    with log.open("w") as out:
        server = subprocess.Popen(  # noqa: S603 (the project's own gunicorn)
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "3",
                "--timeout",
                "30",
                "app:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/", timeout=5).read()  # noqa: S310
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    sys.exit(f"gunicorn did not start:\n{log.read_text()[-2000:]}")
                time.sleep(0.3)

        # The student's follow-up session, as the attack had it.
        # Production cookies are Secure; the bench speaks plain HTTP to gunicorn, as a
        # TLS-ending proxy would, so its cookie jar sends them anyway.
        jar = http.cookiejar.CookieJar(_PlainHttpPolicy())
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect())
        token = _csrf(opener.open(base + "/volgen", timeout=30).read())
        body = urllib.parse.urlencode({"code": code, "csrf_token": token}).encode()
        try:
            opener.open(base + "/volgen", data=body, timeout=30)
        except urllib.error.HTTPError as answer:
            assert answer.code == 302, f"the code was not accepted: {answer.code}"
        token = _csrf(opener.open(base + "/volgen/melding", timeout=30).read())
        cookie = "; ".join(f"{c.name}={c.value}" for c in jar)

        png = _png_7000()
        payload, content_type = _multipart(
            {"body": "Hier zijn de foto's.", "csrf_token": token},
            [(f"rooster-{n}.png", png) for n in range(10)],
        )

        baseline: list[float] = []
        stop = threading.Event()
        probe = threading.Thread(target=_probe, args=(base, stop, baseline))
        probe.start()
        time.sleep(args.baseline_seconds)
        stop.set()
        probe.join()

        during: list[float] = []
        attack: list[tuple[int, float]] = []
        stop = threading.Event()
        probe = threading.Thread(target=_probe, args=(base, stop, during))
        probe.start()
        for _round in range(args.rounds):
            threads = [
                threading.Thread(
                    target=_attack_once, args=(base, cookie, payload, content_type, attack)
                )
                for _ in range(3)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        time.sleep(1.0)
        stop.set()
        probe.join()
    finally:
        server.terminate()
        server.wait(timeout=30)

    text = log.read_text()
    killed = len(re.findall(r"WORKER TIMEOUT|was sent SIGKILL|Worker .* was sent", text))
    statuses: dict[object, int] = {}
    for status, _seconds in attack:
        statuses[status] = statuses.get(status, 0) + 1
    mode = "production (Redis limits)" if args.production else "development (memory limits)"
    print(f"configuration: {mode}; database: {database_url.split('@')[-1]}")
    print(
        f"attack: {args.rounds} rounds x 3 concurrent POSTs /volgen/melding/bericht, "
        f"each 10 PNGs of 7000x7000 ({len(payload) / 1e6:.2f} MB)"
    )
    print(
        f"attack answers: {statuses}; attack request time p50 "
        f"{statistics.median(s for _, s in attack):.3f} s, max {max(s for _, s in attack):.3f} s"
    )
    print(
        f"probe baseline: n={len(baseline)} p50 {statistics.median(baseline) * 1000:.1f} ms "
        f"p95 {_percentile(baseline, 0.95) * 1000:.1f} ms"
    )
    print(
        f"probe during attack: n={len(during)} p50 {statistics.median(during) * 1000:.1f} ms "
        f"p95 {_percentile(during, 0.95) * 1000:.1f} ms max {max(during) * 1000:.1f} ms"
    )
    print(f"workers killed: {killed}")


def _csrf(page: bytes) -> str:
    match = re.search(rb'name="csrf_token" value="([^"]+)"', page) or re.search(
        rb'value="([^"]+)"[^>]*name="csrf_token"', page
    )
    assert match, "no CSRF token on the page"
    return match.group(1).decode()


class _PlainHttpPolicy(http.cookiejar.DefaultCookiePolicy):
    def return_ok_secure(self, cookie, request):
        return True


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _attack_once(base, cookie, payload, content_type, results) -> None:
    request = urllib.request.Request(  # noqa: S310
        base + "/volgen/melding/bericht",
        data=payload,
        headers={"Content-Type": content_type, "Cookie": cookie},
        method="POST",
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        page = error.read().decode("utf-8", "replace")
        status = error.code
        # Why it was refused: the image limit, the upload rate limit, or something else
        # (a lost session or CSRF token would make the figures meaningless).
        if "Deze afbeelding is te groot." in page:
            status = f"{status} (image too large)"
        elif "Er is in korte tijd te veel verstuurd." in page:
            status = f"{status} (upload limit)"
        elif error.code == 422:
            status = f"{status} (another form error)"
    except OSError:
        status = 0
    results.append((status, time.perf_counter() - started))


if __name__ == "__main__":
    main()
