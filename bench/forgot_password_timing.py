"""Does `/wachtwoord-vergeten` answer as fast for an unknown address as for an account?

    .venv/bin/python bench/forgot_password_timing.py [--rounds N]

Uses DATABASE_URL when set (PostgreSQL), otherwise a throwaway SQLite file. Seeds N
active accounts, then posts the form N times for an existing account (each once, so
every one is due a mail) and N times for an unknown address, in a shuffled order so
that drift hits both alike, and prints the median and p90 of each and their ratio.
Then it lets `send-mail`'s first step write the mails (N) and drop the rest (N).
Not a test: timing belongs to the machine it runs on (see `tests/test_account_links.py`
for the behaviour, and that both paths run the same SQL).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from config import TestConfig  # noqa: E402
from stagepact import create_app, outbox  # noqa: E402
from stagepact.admin import add_user  # noqa: E402
from stagepact.extensions import db  # noqa: E402
from stagepact.models import Institution, OutboxMail  # noqa: E402
from stagepact.vocab import Role  # noqa: E402


def _time(client, email: str) -> float:
    start = time.perf_counter()
    response = client.post("/wachtwoord-vergeten", data={"email": email})
    elapsed = time.perf_counter() - start
    assert response.status_code == 200, response.status_code
    return elapsed


def _summary(label: str, known: list[float], unknown: list[float]) -> float:
    def p90(values):
        return statistics.quantiles(values, n=10)[-1]

    ratio = statistics.median(known) / statistics.median(unknown)
    print(
        f"{label}: existing median {statistics.median(known) * 1000:.2f} ms "
        f"(p90 {p90(known) * 1000:.2f}), unknown median {statistics.median(unknown) * 1000:.2f} ms "
        f"(p90 {p90(unknown) * 1000:.2f}); ratio existing/unknown {ratio:.3f}"
    )
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=400)
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL")
    folder = tempfile.mkdtemp(prefix="stagepact-bench-")
    app = create_app(
        TestConfig,
        {
            "SQLALCHEMY_DATABASE_URI": url or f"sqlite:///{folder}/forgot.sqlite",
            "RATE_LIMITS_ON": False,
        },
    )
    with app.app_context():
        db.drop_all()
        db.create_all()
        school = Institution(name="Benchcollege", brin="99BC", city="Utrecht", slug="bench")
        db.session.add(school)
        db.session.flush()
        emails = [f"medewerker{n}@bench.example" for n in range(args.rounds)]
        for n, email in enumerate(emails):
            add_user(
                email=email,
                name=f"Medewerker {n}",
                role=Role.HANDLER,
                institution=school,
                password_hash="!",  # noqa: S106 (no password: never logs in)
            )
        db.session.commit()
        client = app.test_client()
        for n in range(20):  # warm up templates, connections and caches
            _time(client, f"opwarmen{n}@bench.example")

        known, unknown = [], []
        order = [True] * args.rounds + [False] * args.rounds
        random.Random(13).shuffle(order)
        known_emails = iter(emails)
        for is_known in order:
            if is_known:
                known.append(_time(client, next(known_emails)))
            else:
                unknown.append(_time(client, f"niemand{len(unknown)}@bench.example"))
        ratio = _summary("forgot password", known, unknown)
        dropped = outbox.compose_pending()  # what send-mail does first
        mails = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMail))
        print(f"send-mail then wrote {mails} reset mails and dropped {dropped} requests")
        db.session.remove()
        if url:
            db.drop_all()
    print(f"ratio {ratio:.3f}")


if __name__ == "__main__":
    main()
