"""Time `import-companies` on a register of 100,000 learning companies.

    .venv/bin/python bench/import_companies.py [--rows N]

Uses DATABASE_URL when set (PostgreSQL), otherwise a throwaway SQLite file.
Prints the time of a first import, of an identical re-import (all unchanged),
and of a re-import in which a tenth of the companies changed.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config import TestConfig  # noqa: E402
from stagepact import companies, create_app  # noqa: E402
from stagepact.extensions import db  # noqa: E402

CITIES = ["Amsterdam", "Rotterdam", "Utrecht", "Zwolle", "Groningen", "Eindhoven", "Tilburg"]
SECTORS = ["Zorg", "Horeca", "Techniek", "Logistiek", "Retail", "ICT", "Bouw"]


def register_csv(rows: int, renamed_every: int = 0) -> str:
    rng = random.Random(42)  # noqa: S311 (test data)
    out = io.StringIO()
    out.write("kvk,naam,sbb_nummer,adres,plaats,sector\n")
    for n in range(rows):
        suffix = " (nieuw)" if renamed_every and n % renamed_every == 0 else ""
        out.write(
            f"{10_000_000 + n},Leerbedrijf {n} BV{suffix},SBB-{n},Straat {n % 500},"
            f"{rng.choice(CITIES)},{rng.choice(SECTORS)}\n"
        )
    return out.getvalue()


def timed_import(text: str) -> tuple[float, companies.ImportResult]:
    start = time.perf_counter()
    result = companies.import_register(io.StringIO(text))
    db.session.commit()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL")
    with tempfile.TemporaryDirectory() as scratch:
        url = url or f"sqlite:///{scratch}/bench.sqlite"
        app = create_app(TestConfig, {"SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            db.drop_all()
            db.create_all()
            print(f"database: {db.engine.dialect.name}, rows: {args.rows:,}")
            for label, text in [
                ("first import", register_csv(args.rows)),
                ("identical re-import", register_csv(args.rows)),
                ("re-import, 10% renamed", register_csv(args.rows, renamed_every=10)),
            ]:
                seconds, result = timed_import(text)
                print(
                    f"{label:<24} {seconds:6.2f} s  inserted {result.inserted:>7,}  "
                    f"updated {result.updated:>7,}  unchanged {result.unchanged:>7,}  "
                    f"rejected {len(result.rejected):,}"
                )
            db.drop_all()


if __name__ == "__main__":
    main()
