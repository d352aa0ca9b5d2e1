"""`/healthz` says the process answers; `/readyz` says whether this node can serve: the
database reachable and at the migrations' head, Redis reachable where it is configured,
and no scheduled job stale (issue 16, part)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from stagepact import jobs, preflight
from stagepact.extensions import db
from stagepact.models import JobRun, utcnow


def test_healthz_answers_without_a_login_or_a_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_is_ready_on_a_database_at_head(client):
    response = client.get("/readyz")

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == "ok" and body["checks"]["schema"] == "at_head"
    assert set(body["checks"]["jobs"]) == set(jobs.JOBS)
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_is_not_ready_on_a_database_behind_the_code(client):
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0016'"))
    try:
        response = client.get("/readyz")
    finally:
        with db.engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE alembic_version SET version_num = :v"),
                {"v": preflight.head_revision()},
            )

    assert response.status_code == 503
    assert response.get_json()["checks"]["schema"] == "behind"


def test_readyz_is_not_ready_when_a_job_is_stale_but_is_when_one_failed(client):
    long_ago = utcnow() - timedelta(days=3)
    db.session.add(JobRun(name="retention", started_at=long_ago, outcome="ok"))
    db.session.add(JobRun(name="send-mail", started_at=utcnow(), outcome="failed"))
    db.session.commit()

    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["jobs"]["retention"] == "stale"

    db.session.get(JobRun, "retention").started_at = utcnow()
    db.session.commit()
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"]["jobs"]["send-mail"] == "failed"


def test_readyz_says_an_unreachable_redis_without_its_address(app, client):
    saved = app.config["RATELIMIT_STORAGE_URI"]
    app.config["RATELIMIT_STORAGE_URI"] = "redis://geheim:wachtwoord@127.0.0.1:1/0"
    try:
        response = client.get("/readyz")
    finally:
        app.config["RATELIMIT_STORAGE_URI"] = saved

    assert response.status_code == 503
    assert response.get_json()["checks"]["redis"] == "unreachable"
    assert "geheim" not in response.get_data(as_text=True)
