"""Time SBB's signal page over 100,000 companies and 100,000 reports.

    .venv/bin/python bench/sbb_signals.py [--companies N] [--reports N]

Uses DATABASE_URL when set (PostgreSQL), otherwise a throwaway SQLite file.
Imports the register with `import-companies`' own code, seeds reports over 60
institutions and three years (a few companies named by many schools, most by
one or none), then prints the import time, the time of the signal query and of
the whole SBB queue page, and the time of one company's page (counts per year
and ground). The signals are SQL aggregates; no report is loaded into Python.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from bench.import_companies import register_csv  # noqa: E402
from config import TestConfig  # noqa: E402
from stagepact import companies, create_app, signals  # noqa: E402
from stagepact.admin import add_user  # noqa: E402
from stagepact.crypto import hash_password  # noqa: E402
from stagepact.extensions import db  # noqa: E402
from stagepact.models import Case, CaseGround, Company, Institution, utcnow  # noqa: E402
from stagepact.vocab import GROUNDS, Role  # noqa: E402

INSTITUTIONS = 60
CHUNK = 10_000
PASSWORD = "bench-wachtwoord-lang"  # noqa: S105 (a throwaway database)


def seed_institutions() -> list[int]:
    db.session.execute(
        sa.insert(Institution),
        [
            {
                "name": f"Benchcollege {n}",
                "brin": f"B{n:03d}",
                "slug": f"benchcollege-{n}",
                "city": "Utrecht",
            }
            for n in range(INSTITUTIONS)
        ],
    )
    db.session.commit()
    return list(db.session.scalars(sa.select(Institution.id).order_by(Institution.id)))


def seed_reports(count: int, institution_ids: list[int]) -> None:
    """Reports over three years; company choice is skewed so that patterns exist."""
    rng = random.Random(7)  # noqa: S311 (test data)
    company_ids = list(db.session.scalars(sa.select(Company.id).order_by(Company.id)))
    popular = company_ids[:2_000]  # named often, from many schools
    now = utcnow()
    grounds = list(GROUNDS)
    table = Case.__table__
    for start in range(0, count, CHUNK):
        rows, ground_rows = [], []
        for n in range(start, min(start + CHUNK, count)):
            submitted = now - timedelta(days=rng.uniform(0, 3 * 365))
            roll = rng.random()
            company = (
                rng.choice(popular)
                if roll < 0.5
                else rng.choice(company_ids)
                if roll < 0.9
                else None
            )
            closed = rng.random() < 0.7
            rows.append(
                {
                    "id": n + 1,
                    "institution_id": rng.choice(institution_ids),
                    "number": f"B-{n:07d}",
                    "receipt_hash": hashlib.sha256(f"bench-{n}".encode()).hexdigest(),
                    "status": "closed" if closed else "new",
                    "channel": "web",
                    "narrative": "Benchmarkmelding zonder inhoud.",
                    "submitted_at": submitted,
                    "ack_due_on": (submitted + timedelta(days=7)).date(),
                    "closed_at": submitted + timedelta(days=30) if closed else None,
                    "outcome": "resolved" if closed else None,
                    "company_id": company,
                }
            )
            for ground in rng.sample(grounds, rng.choice((1, 1, 2))):
                ground_rows.append({"case_id": n + 1, "ground": ground})
        db.session.execute(sa.insert(table), rows)
        db.session.execute(sa.insert(CaseGround), ground_rows)
        db.session.commit()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()


def timed(function, repeat: int = 5) -> float:
    """The median of `repeat` runs, in milliseconds."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--companies", type=int, default=100_000)
    parser.add_argument("--reports", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        url = os.environ.get("DATABASE_URL") or f"sqlite:///{scratch}/bench.sqlite"
        app = create_app(TestConfig, {"SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            db.drop_all()
            db.create_all()
            print(f"database: {db.engine.dialect.name}")

            start = time.perf_counter()
            companies.import_register(io.StringIO(register_csv(args.companies)))
            db.session.commit()
            print(f"import {args.companies:,} companies      {time.perf_counter() - start:8.2f} s")

            start = time.perf_counter()
            seed_reports(args.reports, seed_institutions())
            print(f"seed {args.reports:,} reports         {time.perf_counter() - start:8.2f} s")

            found, total = signals.signals()
            print(f"signals (companies, >=2 institutions, 24 months): {total:,}")
            print(f"signal query, first page      {timed(lambda: signals.signals()):8.1f} ms")

            add_user(
                email="sbb@bench.example",
                name="Bench SBB",
                role=Role.SBB_REVIEWER,
                institution=None,
                password_hash=hash_password(PASSWORD),
            )
            db.session.commit()
            client = app.test_client()
            client.post("/inloggen", data={"email": "sbb@bench.example", "password": PASSWORD})

            def page(url: str) -> None:
                response = client.get(url)
                assert response.status_code == 200, (url, response.status_code)

            print(f"SBB queue page (HTTP)          {timed(lambda: page('/sbb/')):8.1f} ms")
            top = found[0].company.id
            print(
                f"company page, top signal       {timed(lambda: page(f'/sbb/bedrijven/{top}')):8.1f} ms"
            )
            print(
                f"register page, search 'BV 12'  {timed(lambda: page('/sbb/bedrijven?q=BV+12')):8.1f} ms"
            )
            db.session.remove()
            db.drop_all()


if __name__ == "__main__":
    main()
