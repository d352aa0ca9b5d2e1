"""Time the monitors' sector-wide tables over 1,000,000 reports.

    .venv/bin/python bench/statistics_tables.py [--reports N]

Uses DATABASE_URL when set (PostgreSQL), otherwise a throwaway SQLite file.
Seeds reports over 60 institutions in 6 regions and three years (with grounds,
referrals and escalations with SBB decisions), then prints, side by side in one run:

- the plain SQL GROUP BY that counts one dimension over the last closed calendar year;
- the protected table a request gets for the same year and dimension
  (`statistics.table`: counts, medians, shares, every number perturbed by the
  cell-key method), read from the monthly rollup;
- building the rollup's rows of that dimension over all three years (count with the
  deadline counts, and the two histograms), as the nightly `publish-statistics` does,
  beside the plain GROUP BY over the same three years;
- and the whole `publish-statistics` run (every shape).
Only aggregated rows ever reach Python.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from bench.sbb_signals import timed  # noqa: E402
from config import TestConfig  # noqa: E402
from stagepact import create_app, disclosure, statistics  # noqa: E402
from stagepact.crypto import encrypt, hash_password  # noqa: E402
from stagepact.deadlines import local_date  # noqa: E402
from stagepact.extensions import db  # noqa: E402
from stagepact.models import (  # noqa: E402
    Adv,
    Company,
    Institution,
    User,
    month_number,
    utcnow,
    whole_days,
)
from stagepact.vocab import FORMS, GROUNDS, PHASES, WHO, Role  # noqa: E402

INSTITUTIONS = 60
REGIONS = ["Noord", "Oost", "Zuid", "West", "Midden", "Randstad"]
CHUNK = 20_000


def seed(count: int) -> None:
    rng = random.Random(11)  # noqa: S311 (test data)
    adv = Adv(name="ADV Bench", region="Bench", email="adv@bench.example")
    company = Company(name="Bench BV", kvk="99999999", city="Utrecht")
    db.session.add_all([adv, company])
    db.session.flush()
    db.session.execute(
        sa.insert(Institution),
        [
            {
                "name": f"Benchcollege {n:02d}",
                "brin": f"B{n:03d}",
                "slug": f"bench-{n}",
                "city": "Utrecht",
                "region": REGIONS[n % len(REGIONS)],
                "adv_id": adv.id,
            }
            for n in range(INSTITUTIONS)
        ],
    )
    handler = User(
        email="h@bench.example",
        name="Bench",
        role=Role.HANDLER,
        institution_id=1,
        password_hash=hash_password("x" * 12),
    )
    db.session.add(handler)
    db.session.commit()
    institution_ids = list(db.session.scalars(sa.select(Institution.id)))

    # Plain tables: the narrative is encrypted once and the same token reused.
    cases = sa.table(
        "report_case",
        *(
            sa.column(name)
            for name in (
                "id", "institution_id", "number", "receipt_hash", "status", "channel",
                "language", "is_anonymous", "reporter_role", "contact_preference",
                "narrative", "phase", "who", "form", "consent_adv", "consent_sbb",
                "consent_sbb_identity", "consent_contact", "submitted_at", "ack_due_on",
                "acknowledged_at", "ack_on_time", "feedback_due_on", "feedback_at",
                "feedback_on_time", "closed_at", "outcome", "updated_at", "ack_days",
                "close_days", "submitted_month", "record_key",
            )
        ),
    )  # fmt: skip
    grounds_table = sa.table("case_ground", sa.column("case_id"), sa.column("ground"))
    referrals = sa.table(
        "referral",
        *(sa.column(n) for n in ("case_id", "adv_id", "referred_by_id", "referred_at", "summary", "shared_contact")),
    )  # fmt: skip
    escalations = sa.table(
        "investigation",
        *(sa.column(n) for n in ("company_id", "origin", "status", "case_id", "institution_id", "created_by_id", "created_at", "updated_at", "summary", "shared_grounds", "shares_identity", "decision")),
    )  # fmt: skip
    decisions = ["no_action", "conversation", "improvement", "warning", None]
    narrative = encrypt("Benchmarkmelding.")
    now = utcnow()
    phases, forms, whos, ground_codes = list(PHASES), list(FORMS), list(WHO), list(GROUNDS)
    outcomes = ["resolved", "company_addressed", "no_action_wanted", "not_substantiated"]
    for start in range(0, count, CHUNK):
        rows, grounds, referred, escalated = [], [], [], []
        for n in range(start, min(start + CHUNK, count)):
            submitted = now - timedelta(days=rng.uniform(0, 3 * 365))
            acknowledged = submitted + timedelta(days=rng.uniform(0.2, 9))
            closed = rng.random() < 0.75
            ack_due = (submitted + timedelta(days=7)).date()
            feedback_due = (acknowledged + timedelta(days=90)).date()
            feedback = acknowledged + timedelta(days=rng.uniform(5, 120)) if closed else None
            rows.append(
                {
                    "id": n + 1,
                    "institution_id": rng.choice(institution_ids),
                    "number": f"B-{n:07d}",
                    "receipt_hash": hashlib.sha256(f"b{n}".encode()).hexdigest(),
                    "status": "closed" if closed else "follow_up",
                    "channel": rng.choice(["web", "web", "web", "phone", "visit", "mail"]),
                    "language": "nl",
                    "is_anonymous": True,
                    "reporter_role": "self",
                    "contact_preference": "none",
                    "narrative": narrative,
                    "phase": rng.choice(phases),
                    "who": rng.choice(whos),
                    "form": rng.choice(forms),
                    "consent_adv": False,
                    "consent_sbb": False,
                    "consent_sbb_identity": False,
                    "consent_contact": False,
                    "submitted_at": submitted,
                    "ack_due_on": ack_due,
                    "acknowledged_at": acknowledged,
                    "ack_on_time": acknowledged.date() <= ack_due,
                    "feedback_due_on": feedback_due,
                    "feedback_at": feedback,
                    "feedback_on_time": feedback.date() <= feedback_due if feedback else None,
                    "closed_at": feedback + timedelta(days=1) if closed else None,
                    "outcome": rng.choice(outcomes) if closed else None,
                    "updated_at": now,
                    "ack_days": whole_days(submitted, acknowledged),
                    "close_days": whole_days(submitted, feedback + timedelta(days=1))
                    if closed
                    else None,
                    "submitted_month": month_number(local_date(submitted)),
                    "record_key": disclosure.new_record_key(),
                }
            )
            if rng.random() < 0.02:
                decision = rng.choice(decisions)
                escalated.append(
                    {
                        "company_id": company.id,
                        "origin": "escalation",
                        "status": "decided" if decision else "investigating",
                        "case_id": n + 1,
                        "institution_id": rows[-1]["institution_id"],
                        "created_by_id": handler.id,
                        "created_at": acknowledged,
                        "updated_at": acknowledged,
                        "summary": narrative,
                        "shared_grounds": "",
                        "shares_identity": False,
                        "decision": decision,
                    }
                )
            for ground in rng.sample(ground_codes, rng.choice((1, 1, 1, 2))):
                grounds.append({"case_id": n + 1, "ground": ground})
            if rng.random() < 0.03:
                referred.append(
                    {
                        "case_id": n + 1,
                        "adv_id": adv.id,
                        "referred_by_id": handler.id,
                        "referred_at": acknowledged,
                        "summary": narrative,
                        "shared_contact": False,
                    }
                )
        db.session.execute(sa.insert(cases), rows)
        db.session.execute(sa.insert(grounds_table), grounds)
        if referred:
            db.session.execute(sa.insert(referrals), referred)
        if escalated:
            db.session.execute(sa.insert(escalations), escalated)
        db.session.commit()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()


def plain_group_by(dimension: str, period: statistics.Period) -> list:
    """The same counts, written as the simplest SQL could."""
    from stagepact.deadlines import start_of_local_day

    where = "submitted_at >= :start AND submitted_at < :end"
    sql = {
        "ground": f"SELECT g.ground, count(*) FROM report_case c LEFT JOIN case_ground g ON g.case_id = c.id WHERE {where} GROUP BY g.ground",  # noqa: S608 (constant SQL, no user input)
        "referred": f"SELECT r.case_id IS NULL, count(*) FROM report_case c LEFT JOIN (SELECT DISTINCT case_id FROM referral) r ON r.case_id = c.id WHERE {where} GROUP BY 1",  # noqa: S608 (constant SQL, no user input)
        "escalated": f"SELECT i.case_id IS NULL, count(*) FROM report_case c LEFT JOIN (SELECT DISTINCT case_id FROM investigation) i ON i.case_id = c.id WHERE {where} GROUP BY 1",  # noqa: S608 (constant SQL, no user input)
        "sbb_decision": f"SELECT i.decision, count(*) FROM report_case c LEFT JOIN investigation i ON i.case_id = c.id WHERE {where} GROUP BY i.decision",  # noqa: S608 (constant SQL, no user input)
    }.get(
        dimension,
        f"SELECT {dimension}, count(*) FROM report_case WHERE {where} GROUP BY {dimension}",  # noqa: S608 (constant SQL, no user input)
    )
    return db.session.execute(
        sa.text(sql),
        {"start": start_of_local_day(period.start), "end": start_of_local_day(period.end)},
    ).all()


def _rollup_statements_of(dimension: str, today: date) -> list:
    """The nightly rollup's statements that read this dimension alone (its one-way count
    with the deadline counts, and its two histograms)."""
    found = []
    for statement in statistics._rollup_statements(today):
        shape = statement.select.selected_columns[2].value
        if shape == dimension:
            found.append(statement)
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reports", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        url = os.environ.get("DATABASE_URL") or f"sqlite:///{scratch}/bench.sqlite"
        app = create_app(TestConfig, {"SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            db.drop_all()
            db.create_all()
            begin = time.perf_counter()
            seed(args.reports)
            print(
                f"database: {db.engine.dialect.name}, {args.reports:,} reports seeded in "
                f"{time.perf_counter() - begin:.0f} s"
            )
            today = date.today()
            begin = time.perf_counter()
            rows = statistics.publish(today)
            db.session.commit()
            print(
                f"publish-statistics (every shape, three years): "
                f"{time.perf_counter() - begin:.1f} s, {rows:,} rollup rows"
            )
            year = statistics.publication().periods("year")[-1]
            everything = statistics.Period(
                "range", today - timedelta(days=3 * 366 + 31), today, "", ""
            )
            print(
                f"{'':<14} {'last closed year (' + year.label + ')':>34}   "
                f"{'three years, as the nightly rollup':>38}"
            )
            print(
                f"{'dimension':<14} {'plain GROUP BY':>15} {'protected table':>16}   "
                f"{'plain GROUP BY':>15} {'rollup rows':>12} {'ratio':>7}"
            )
            for dimension in statistics.DIMENSIONS:
                query = statistics.Query(year, "sector", (dimension,))
                served = timed(lambda q=query: statistics.table(q))
                plain = timed(lambda d=dimension: plain_group_by(d, year))
                plain_all = timed(lambda d=dimension: plain_group_by(d, everything))
                statements = _rollup_statements_of(dimension, today)

                def build(statements=statements, dimension=dimension):
                    db.session.execute(
                        sa.delete(statistics.RollupRow).where(
                            statistics.RollupRow.shape == dimension
                        )
                    )
                    for statement in statements:
                        db.session.execute(statement)
                    db.session.commit()

                rollup = timed(build)
                print(
                    f"{dimension:<14} {plain:12.0f} ms {served:13.0f} ms   "
                    f"{plain_all:12.0f} ms {rollup:9.0f} ms {rollup / plain_all:6.2f}x"
                )
            query = statistics.Query(
                statistics.school_year(year.start.year - 1), "institution", ("phase",)
            )
            print(
                f"{'institution×phase':<14} {timed(lambda: statistics.table(query)):6.0f} ms "
                "(a protected table per institution, one school year)"
            )
            db.session.remove()
            db.drop_all()


if __name__ == "__main__":
    main()
