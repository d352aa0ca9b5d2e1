"""A stranger's wrong passwords slow the stranger, never the account's owner.

Failures are counted per (account, address); an address without failures is always
checked, however many failures the account has elsewhere. The owner hears of repeated
failures by mail, at most once an hour.
"""

from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import urlsplit

import pyotp
import sqlalchemy as sa

from stagepact import login_failures
from stagepact.extensions import db
from stagepact.models import LoginFailure, OutboxMail, utcnow
from stagepact.vocab import Role
from tests.factories import PASSWORD, make_user
from tests.helpers import reloaded

OWNER_ADDRESS = "203.0.113.50"
ATTACKER_ADDRESS = "198.51.100.66"


def _login(client, email: str, password: str, address: str):
    return client.post(
        "/inloggen",
        data={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def _landed(response) -> str:
    return urlsplit(response.headers.get("Location", "")).path


def _notices() -> list[OutboxMail]:
    return db.session.scalars(
        sa.select(OutboxMail).where(OutboxMail.purpose == "account_failed_logins")
    ).all()


def test_a_thousand_wrong_passwords_from_one_address_do_not_stop_the_owner_elsewhere(app):
    handler = make_user(Role.HANDLER)
    db.session.commit()
    attacker = app.test_client()
    answers = {
        _login(attacker, handler.email, f"gok-{n}", ATTACKER_ADDRESS).status_code
        for n in range(1000)
    }

    assert answers == {401}
    # The attacker's address now waits, even with the right password...
    assert _login(attacker, handler.email, PASSWORD, ATTACKER_ADDRESS).status_code == 401
    # ...but the owner's own address was never part of it.
    owner = app.test_client()
    assert _landed(_login(owner, handler.email, PASSWORD, OWNER_ADDRESS)) == "/behandelen/"
    assert "keer geprobeerd in te loggen" in owner.get("/behandelen/").get_data(as_text=True)


def test_the_same_attack_through_the_rate_limiter_leaves_the_owner_in(app, limited):
    handler = make_user(Role.HANDLER)
    db.session.commit()
    attacker = app.test_client()
    answers = [
        _login(attacker, handler.email, f"gok-{n}", ATTACKER_ADDRESS).status_code
        for n in range(1000)
    ]

    assert set(answers) == {401, 429} and answers.count(429) >= 900
    assert _landed(_login(app.test_client(), handler.email, PASSWORD, OWNER_ADDRESS)) == (
        "/behandelen/"
    )


def test_a_thousand_wrong_passwords_spread_over_addresses_do_not_stop_the_owner(app):
    handler = make_user(Role.HANDLER)
    db.session.commit()
    attacker = app.test_client()
    checked = 0
    for n in range(1000):
        address = f"10.0.{n // 4 // 250}.{n // 4 % 250 + 1}"  # 250 addresses, 4 tries each
        before = reloaded(handler).failed_logins
        assert _login(attacker, handler.email, f"gok-{n}", address).status_code == 401
        checked += reloaded(handler).failed_logins - before

    # Past the account's ceiling, each failing address waits the maximum after one try:
    # the 250 addresses had their passwords checked far fewer than 1,000 times.
    assert checked < 300
    assert _login(attacker, handler.email, PASSWORD, "10.0.0.1").status_code == 401
    owner = app.test_client()
    assert _landed(_login(owner, handler.email, PASSWORD, OWNER_ADDRESS)) == "/behandelen/"


def test_a_failing_address_waits_longer_each_time_but_waiting_tries_do_not_add_to_it(app):
    handler = make_user(Role.HANDLER)
    db.session.commit()
    client = app.test_client()
    for _ in range(login_failures.FREE_FAILURES):
        _login(client, handler.email, "verkeerd", ATTACKER_ADDRESS)
    assert not login_failures.login_delayed(handler, ATTACKER_ADDRESS)  # still free tries

    _login(client, handler.email, "verkeerd", ATTACKER_ADDRESS)
    assert login_failures.login_delayed(handler, ATTACKER_ADDRESS)
    pair = db.session.scalar(sa.select(LoginFailure))
    waiting_until = pair.delayed_until

    # The owner at that address, with the right password, is told the same as a wrong one,
    # and does not make the wait any longer by trying.
    for _ in range(5):
        assert _login(client, handler.email, PASSWORD, ATTACKER_ADDRESS).status_code == 401
    db.session.expire_all()
    pair = db.session.scalar(sa.select(LoginFailure))
    assert pair.delayed_until == waiting_until and pair.failures == login_failures.FREE_FAILURES + 1

    pair.delayed_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert _landed(_login(client, handler.email, PASSWORD, ATTACKER_ADDRESS)) == "/behandelen/"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginFailure)) == 0


def test_the_address_is_stored_only_as_a_keyed_hash(app):
    handler = make_user(Role.HANDLER)
    db.session.commit()
    _login(app.test_client(), handler.email, "verkeerd", ATTACKER_ADDRESS)
    pair = db.session.scalar(sa.select(LoginFailure))
    assert ATTACKER_ADDRESS not in pair.address_hash and len(pair.address_hash) == 64


def test_every_address_in_one_ipv6_64_is_one_address(app):
    handler = make_user(Role.HANDLER)
    db.session.commit()
    client = app.test_client()
    for n in range(login_failures.FREE_FAILURES + 1):
        _login(client, handler.email, "verkeerd", f"2001:db8:1:2::{n + 1:x}")

    # A fresh address in the same /64 waits; another /64 does not.
    assert _login(client, handler.email, PASSWORD, "2001:db8:1:2::beef").status_code == 401
    assert _landed(_login(client, handler.email, PASSWORD, "2001:db8:1:3::1")) == "/behandelen/"


def test_two_factor_still_follows_the_password_from_a_clean_address(app, enforced):
    admin = make_user(Role.INSTITUTION_ADMIN, totp_secret=pyotp.random_base32())
    admin.totp_enabled_at = utcnow()
    db.session.commit()
    attacker = app.test_client()
    for n in range(50):
        _login(attacker, admin.email, f"gok-{n}", ATTACKER_ADDRESS)

    owner = app.test_client()
    assert _landed(_login(owner, admin.email, PASSWORD, OWNER_ADDRESS)) == "/inloggen/code"
    code = pyotp.TOTP(reloaded(admin).totp_secret).at(time.time())
    done = owner.post(
        "/inloggen/code", data={"code": code}, environ_base={"REMOTE_ADDR": OWNER_ADDRESS}
    )
    assert _landed(done) == "/statistieken/"


def test_wrong_codes_at_the_second_step_make_that_address_wait(app, enforced):
    admin = make_user(Role.INSTITUTION_ADMIN, totp_secret=pyotp.random_base32())
    admin.totp_enabled_at = utcnow()
    db.session.commit()
    client = app.test_client()
    assert _landed(_login(client, admin.email, PASSWORD, ATTACKER_ADDRESS)) == "/inloggen/code"
    for _ in range(login_failures.FREE_FAILURES + 1):
        client.post(
            "/inloggen/code",
            data={"code": "000000"},
            environ_base={"REMOTE_ADDR": ATTACKER_ADDRESS},
        )
    code = pyotp.TOTP(reloaded(admin).totp_secret).at(time.time())
    refused = client.post(
        "/inloggen/code", data={"code": code}, environ_base={"REMOTE_ADDR": ATTACKER_ADDRESS}
    )
    assert refused.status_code == 422


def test_the_owner_is_mailed_about_repeated_failures_at_most_once_an_hour(app):
    handler = make_user(Role.HANDLER, name="Anouk de Vries")
    db.session.commit()
    client = app.test_client()
    for n in range(login_failures.NOTICE_AFTER - 1):
        _login(client, handler.email, "verkeerd", f"192.0.2.{n + 1}")
    assert _notices() == []

    for n in range(40):
        _login(client, handler.email, "verkeerd", f"192.0.2.{n + 20}")
    [notice] = _notices()
    assert notice.recipient == handler.email
    assert "Anouk de Vries" in notice.body and "192.0.2" not in notice.body
    assert "niet geblokkeerd" in notice.body

    fresh = reloaded(handler)
    fresh.failure_notice_at = utcnow() - timedelta(minutes=61)
    db.session.commit()
    _login(client, handler.email, "verkeerd", "192.0.2.200")
    assert len(_notices()) == 2


def test_an_unknown_address_gets_no_counter_and_the_same_answer(app):
    client = app.test_client()
    for _ in range(login_failures.FREE_FAILURES + 2):
        answer = _login(client, "niemand@example.org", "verkeerd", ATTACKER_ADDRESS)
        assert answer.status_code == 401
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginFailure)) == 0


def test_a_first_failure_counted_by_two_workers_at_once_is_no_error(app, monkeypatch):
    """Two workers both find no row for a new address and both insert one: the second
    insert gives way to the first row instead of failing the request."""
    handler = make_user(Role.HANDLER)
    login_failures.record_failure(handler, ATTACKER_ADDRESS)  # the other worker's row
    db.session.commit()
    real_pair = login_failures._pair
    misses = [None]
    monkeypatch.setattr(
        login_failures,
        "_pair",
        lambda user, address: misses.pop() if misses else real_pair(user, address),
    )

    login_failures.record_failure(handler, ATTACKER_ADDRESS)
    db.session.commit()

    [pair] = db.session.scalars(sa.select(LoginFailure)).all()
    assert pair.failures == 2
