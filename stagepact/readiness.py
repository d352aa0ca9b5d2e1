"""Whether this app node can serve: the checks behind `/readyz`.

Each check answers with a short code, never with a connection string or an error's text.
Scheduled jobs count as stale when one has not run for twice its interval
(`jobs.attention`); a job that never ran (a new installation) or whose last run failed
(a mail server away) is reported but does not take the node out of service, as it can
still take reports: `flask stagepact status` is where those show.
"""

from __future__ import annotations

from flask import current_app

from . import jobs
from .preflight import database_revision, head_revision


def _database() -> dict[str, str]:
    reachable, revision = database_revision()
    if not reachable:
        return {"database": "unreachable"}
    schema = "at_head" if revision == head_revision() else "behind"
    return {"database": "ok", "schema": schema}


def _redis() -> dict[str, str]:
    uri = current_app.config.get("RATELIMIT_STORAGE_URI", "")
    if not uri.startswith(("redis://", "rediss://")):
        return {}
    import redis

    try:
        redis.Redis.from_url(uri, socket_connect_timeout=0.5, socket_timeout=0.5).ping()
    except redis.RedisError:
        return {"redis": "unreachable"}
    return {"redis": "ok"}


def _jobs() -> dict[str, str]:
    return {state.job.name: state.code for state in jobs.states()}


def checks() -> tuple[bool, dict]:
    """(ready, what each check found)."""
    found = _database() | _redis()
    ready = found.get("database") == "ok" and found.get("schema") == "at_head"
    ready = ready and found.get("redis", "ok") == "ok"
    if found.get("database") == "ok":
        found["jobs"] = _jobs()
        ready = ready and "stale" not in found["jobs"].values()
    return ready, found
