"""Limits that fit schools: a whole class behind one address, IPv6 per /64, per code
tried, and a Redis outage that falls back to memory instead of failing."""

from __future__ import annotations

import logging
import socket
from urllib.parse import urlsplit

import pytest

from config import TestConfig
from stagepact import create_app
from stagepact.extensions import db, limiter
from tests.factories import make_case

SCHOOL = "145.97.10.1"  # one address for the whole school (NAT)


def _enter(client, code: str, address: str = SCHOOL):
    return client.post("/volgen", data={"code": code}, environ_base={"REMOTE_ADDR": address})


def _wrong(n: int) -> str:
    return f"9999 8888 {n // 10000:04d} {n % 10000:04d}"


def test_a_class_mistyping_codes_does_not_lock_out_the_next_student(app, limited):
    _case, code = make_case()
    db.session.commit()
    pupils = app.test_client()
    for n in range(60):  # 20 pupils, three mistakes each, all behind the school's address
        assert _enter(pupils, _wrong(n)).status_code == 422

    next_student = app.test_client()
    opened = _enter(next_student, code)
    assert opened.status_code == 302
    assert urlsplit(opened.headers["Location"]).path == "/volgen/melding"


def test_one_code_is_limited_from_every_address_together(app, limited):
    target = "1111 2222 3333 4444"
    client = app.test_client()
    for n in range(10):
        assert _enter(client, target, f"192.0.2.{n + 1}").status_code == 422
    # The same code typed differently is the same code.
    assert _enter(client, "1111-2222-3333-4444", "192.0.2.99").status_code == 429
    assert _enter(client, _wrong(1), "192.0.2.99").status_code == 422  # another code goes on


def test_the_limit_keys_hold_a_hash_of_the_code_never_the_code(app, limited):
    _enter(app.test_client(), "1111 2222 3333 4444")
    keys = " ".join(str(key) for key in limiter.storage.storage)
    assert "code:" in keys
    assert "1111222233334444" not in keys and "1111 2222" not in keys


def test_every_address_in_one_ipv6_64_shares_one_budget(app, limited):
    client = app.test_client()
    for n in range(10):
        answer = client.post(
            "/wachtwoord-vergeten",
            data={"email": "niemand@example.org"},
            environ_base={"REMOTE_ADDR": f"2001:db8:aa:bb::{n + 1:x}"},
        )
        assert answer.status_code == 200
    same_64 = client.post(
        "/wachtwoord-vergeten",
        data={"email": "niemand@example.org"},
        environ_base={"REMOTE_ADDR": "2001:db8:aa:bb:ffff:1:2:3"},
    )
    other_64 = client.post(
        "/wachtwoord-vergeten",
        data={"email": "niemand@example.org"},
        environ_base={"REMOTE_ADDR": "2001:db8:aa:bc::1"},
    )
    assert same_64.status_code == 429
    assert other_64.status_code == 200


def _give_back(app) -> None:
    """The limiter object is shared by every app in this process: point it at the test
    app's memory storage again, out of the fallback (Flask-Limiter keeps both flags)."""
    limiter.init_app(app)
    limiter._storage_dead = False
    limiter._key_prefix = app.config["RATELIMIT_KEY_PREFIX"]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # free now, and nobody listens on it


def test_with_redis_down_limits_fall_back_to_memory_and_nothing_fails(app, tmp_path, caplog):
    redis_down = create_app(
        TestConfig,
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'redis-down.sqlite'}",
            "RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{_closed_port()}/0",
            "RATE_LIMITS_ON": True,
        },
    )
    try:
        with redis_down.app_context():
            db.create_all()
            client = redis_down.test_client()
            with caplog.at_level(logging.WARNING):
                answers = [
                    client.post("/wachtwoord-vergeten", data={"email": "niemand@example.org"})
                    for _ in range(11)
                ]
                code = client.post("/volgen", data={"code": "1234 5678 9012 3456"})
                login = client.post("/inloggen", data={"email": "x@example.org", "password": "y"})
            db.session.remove()
    finally:
        _give_back(app)

    assert [a.status_code for a in answers] == [200] * 10 + [429]  # still limited, in memory
    assert code.status_code == 422 and login.status_code == 401
    assert "falling back to in-memory storage" in caplog.text


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return False
    return True


def test_with_redis_up_the_limits_count_in_redis_under_their_own_prefix(app, tmp_path):
    if not _redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379")
    import redis

    prefix = f"stagepact-auth-test-{tmp_path.name}"
    shared = create_app(
        TestConfig,
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'redis-up.sqlite'}",
            "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0",
            "RATELIMIT_KEY_PREFIX": prefix,
            "RATE_LIMITS_ON": True,
        },
    )
    server = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    limiter._key_prefix = prefix  # read once per limiter object, at its first init_app
    try:
        with shared.app_context():
            db.create_all()
            client = shared.test_client()
            client.post("/volgen", data={"code": "5555 6666 7777 8888"})
            db.session.remove()
        keys = [key.decode() for key in server.scan_iter(f"*{prefix}*")]
        assert keys and not any("5555" in key for key in keys)
    finally:
        for key in server.scan_iter(f"*{prefix}*"):
            server.delete(key)
        _give_back(app)
