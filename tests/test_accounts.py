"""Staff accounts: 2FA, sessions that end everywhere, reset and invitation links, login limits."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pyotp
import pytest
import sqlalchemy as sa

from stagepact import accounts, outbox
from stagepact.extensions import db
from stagepact.models import AccountToken, AuditEvent, OutboxMail, RecoveryCode, User, utcnow
from stagepact.vocab import Role
from tests.factories import PASSWORD, make_institution, make_meldpunt, make_user
from tests.helpers import reloaded

STRONG = "paars-kanaal-fietsbel-7"


def _login(client, user, password=PASSWORD):
    db.session.commit()
    return client.post("/inloggen", data={"email": user.email, "password": password})


def _path(response) -> str:
    return urlsplit(response.headers.get("Location", "")).path


def _code(user, offset: int = 0) -> str:
    totp = pyotp.TOTP(reloaded(user).totp_secret)
    return totp.at(time.time() + offset * 30)


def _enrol(client, user) -> list[str]:
    """Password, then the authenticator app set up; returns the recovery codes shown."""
    assert _path(_login(client, user)) == "/inloggen/tweestapsverificatie"
    page = client.get("/inloggen/tweestapsverificatie")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<svg" in html and "<script" not in html
    done = client.post("/inloggen/tweestapsverificatie", data={"code": _code(user)})
    assert done.status_code == 200
    return re.findall(r"<li><code>([0-9a-f-]+)</code></li>", done.get_data(as_text=True))


# --- Two-factor authentication ------------------------------------------------------------


@pytest.mark.parametrize(
    "role", [Role.PLATFORM_ADMIN, Role.SBB_REVIEWER, Role.MONITOR, Role.INSTITUTION_ADMIN]
)
def test_these_roles_must_set_up_two_factor_before_anything_else(client, enforced, role):
    user = make_user(role)

    response = _login(client, user)

    assert _path(response) == "/inloggen/tweestapsverificatie"
    assert client.get("/account").status_code == 302  # not logged in yet
    codes = _enrol(client, user)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.get("/account").status_code == 200
    fresh = reloaded(user)
    assert fresh.totp_enabled_at is not None
    stored = db.session.scalars(sa.select(RecoveryCode.code_hash)).all()
    assert len(stored) == 10 and not set(codes) & set(stored)  # only hashes are kept


@pytest.mark.parametrize(("required", "asked"), [(True, True), (False, False)])
def test_a_handler_needs_two_factor_where_the_institution_requires_it(
    client, enforced, required, asked
):
    handler = make_user(Role.HANDLER, make_institution(require_2fa=required))

    response = _login(client, handler)

    expected = "/inloggen/tweestapsverificatie" if asked else "/behandelen/"
    assert _path(response) == expected


def test_a_wrong_code_at_enrolment_keeps_two_factor_off(client, enforced):
    user = make_user(Role.MONITOR)
    _login(client, user)
    client.get("/inloggen/tweestapsverificatie")

    refused = client.post("/inloggen/tweestapsverificatie", data={"code": "000000"})

    assert refused.status_code == 422
    assert "Deze code klopt niet" in refused.get_data(as_text=True)
    assert reloaded(user).totp_enabled_at is None
    assert client.get("/account").status_code == 302


def test_after_enrolment_every_login_needs_a_code_and_each_code_works_once(app, enforced):
    user = make_user(Role.SBB_REVIEWER)
    _enrol(app.test_client(), user)
    code = _code(user, offset=1)

    first = app.test_client()
    assert _path(_login(first, user)) == "/inloggen/code"
    assert _path(first.post("/inloggen/code", data={"code": code})) == "/sbb/"

    second = app.test_client()
    _login(second, user)
    replay = second.post("/inloggen/code", data={"code": code})
    assert replay.status_code == 422
    assert second.get("/sbb/").status_code == 302


def test_a_recovery_code_works_once(app, enforced):
    user = make_user(Role.MONITOR)
    codes = _enrol(app.test_client(), user)

    first = app.test_client()
    _login(first, user)
    assert _path(first.post("/inloggen/code", data={"code": codes[0]})) == "/statistieken/"

    second = app.test_client()
    _login(second, user)
    assert second.post("/inloggen/code", data={"code": codes[0]}).status_code == 422
    assert _path(second.post("/inloggen/code", data={"code": codes[1]})) == "/statistieken/"


def test_the_second_step_cannot_be_skipped_or_reached_without_the_password(client, enforced):
    user = make_user(Role.MONITOR)
    assert _path(client.get("/inloggen/code")) == "/inloggen"
    assert _path(client.get("/inloggen/tweestapsverificatie")) == "/inloggen"
    _login(client, user)
    assert client.get("/statistieken/").status_code == 302  # the password alone opens nothing


def test_a_pending_login_expires(client, enforced):
    user = make_user(Role.MONITOR)
    _login(client, user)
    with client.session_transaction() as session:
        session["pending_login"] = {**session["pending_login"], "at": time.time() - 3600}

    assert _path(client.get("/inloggen/tweestapsverificatie")) == "/inloggen"


# --- Sessions ------------------------------------------------------------------------------


def _copy_cookie(source, target, app) -> None:
    name, domain = app.config["SESSION_COOKIE_NAME"], app.config["SERVER_NAME"]
    cookie = source.get_cookie(name, domain=domain)
    target.set_cookie(name, cookie.value, domain=domain)


def test_a_cookie_copied_before_logout_no_longer_works(app):
    handler = make_user(Role.HANDLER)
    browser = app.test_client()
    _login(browser, handler)
    thief = app.test_client()
    _copy_cookie(browser, thief, app)
    assert thief.get("/behandelen/").status_code == 200

    browser.post("/uitloggen")

    assert thief.get("/behandelen/").status_code == 302
    assert reloaded(handler).session_version == 2


def test_logging_out_ends_the_sessions_on_other_devices_too(app):
    handler = make_user(Role.HANDLER)
    laptop, phone = app.test_client(), app.test_client()
    _login(laptop, handler)
    _login(phone, handler)
    assert laptop.get("/behandelen/").status_code == 200  # both devices are logged in
    assert phone.get("/behandelen/").status_code == 200

    phone.post("/uitloggen")

    after = laptop.get("/behandelen/")
    assert after.status_code == 302
    assert _path(after) == "/inloggen"


def test_a_password_change_ends_other_sessions_but_not_this_one(app):
    handler = make_user(Role.HANDLER)
    here, elsewhere = app.test_client(), app.test_client()
    _login(here, handler)
    _login(elsewhere, handler)
    assert elsewhere.get("/behandelen/").status_code == 200

    changed = here.post(
        "/account/wachtwoord",
        data={"pw-current": PASSWORD, "pw-password": STRONG, "pw-repeat": STRONG},
    )

    assert changed.status_code == 302
    assert here.get("/behandelen/").status_code == 200
    assert elsewhere.get("/behandelen/").status_code == 302
    assert _path(_login(app.test_client(), handler, STRONG)) == "/behandelen/"


def test_a_disabled_account_loses_its_sessions_at_once(app):
    institution = make_institution()
    handler = make_user(Role.HANDLER, institution)
    admin = make_user(Role.INSTITUTION_ADMIN, institution)
    browser = app.test_client()
    _login(browser, handler)
    admin_browser = app.test_client()
    _login(admin_browser, admin)

    assert (
        admin_browser.post(f"/organisatie/medewerkers/{handler.id}/uitschakelen").status_code == 302
    )

    assert browser.get("/behandelen/").status_code == 302
    assert _login(app.test_client(), handler).status_code == 401


def test_a_two_factor_reset_ends_the_sessions_and_asks_to_enrol_again(app, enforced):
    institution = make_institution()
    handler = make_user(Role.HANDLER, institution)
    admin = make_user(Role.INSTITUTION_ADMIN, institution)
    browser = app.test_client()
    _enrol(browser, handler)
    assert browser.get("/behandelen/").status_code == 200
    admin_browser = app.test_client()
    _enrol(admin_browser, admin)

    admin_browser.post(f"/organisatie/medewerkers/{handler.id}/tweestaps-herstellen")

    assert browser.get("/behandelen/").status_code == 302
    assert reloaded(handler).totp_secret is None
    assert _path(_login(app.test_client(), handler)) == "/inloggen/tweestapsverificatie"


def test_a_login_starts_a_new_session(client):
    handler = make_user(Role.HANDLER)
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
        session["sid"] = "fixed-by-attacker"

    _login(client, handler)

    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["sid"] != "fixed-by-attacker"


@pytest.mark.parametrize(("key", "age"), [("seen_at", 31 * 60), ("login_at", 13 * 3600)])
def test_a_session_ends_after_30_idle_minutes_or_12_hours(client, key, age):
    handler = make_user(Role.HANDLER)
    _login(client, handler)
    assert client.get("/behandelen/").status_code == 200
    with client.session_transaction() as session:
        session[key] = time.time() - age

    assert _path(client.get("/behandelen/")) == "/inloggen"


# --- Failed logins -------------------------------------------------------------------------


def _failure_page(response) -> str:
    return re.sub(r'name="csrf_token" value="[^"]*"', "", response.get_data(as_text=True))


def test_a_failed_login_looks_the_same_for_every_reason(client):
    handler = make_user(Role.HANDLER)
    disabled = make_user(Role.HANDLER, active=False)
    answers = [
        _login(client, handler, "verkeerd wachtwoord"),
        client.post("/inloggen", data={"email": "niemand@example.org", "password": "x" * 12}),
        _login(client, disabled),
    ]
    assert {r.status_code for r in answers} == {401}
    pages = {
        _failure_page(r).replace(handler.email, "").replace(disabled.email, "") for r in answers
    }
    pages = {p.replace("niemand@example.org", "") for p in pages}
    assert len(pages) == 1


def test_logins_are_rate_limited_per_address_with_a_friendly_page(app, client, limited):
    handler = make_user(Role.HANDLER)
    for _ in range(60):
        _login(client, handler, "verkeerd")

    limited_response = _login(client, handler)

    assert limited_response.status_code == 429
    assert "Even wachten" in limited_response.get_data(as_text=True)
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "198.51.100.20"
    assert _path(_login(elsewhere, handler)) == "/behandelen/"  # one address, not the account


# --- Reset and invitation links ------------------------------------------------------------


def _mail(purpose: str) -> OutboxMail:
    outbox.compose_pending()  # what send-mail does first
    return db.session.scalars(
        sa.select(OutboxMail).where(OutboxMail.purpose == f"account_{purpose}")
    ).all()[-1]


def _token(purpose: str) -> str:
    """The token from the last mail's link, from its fragment (which a browser never sends)."""
    link = re.search(r"https?://\S+", _mail(purpose).body).group(0)
    assert urlsplit(link).path == "/wachtwoord-instellen"
    return urlsplit(link).fragment


def _choose(client, token: str, password: str = STRONG):
    return client.post(
        "/wachtwoord-instellen", data={"token": token, "password": password, "repeat": password}
    )


def test_a_forgotten_password_gets_the_same_answer_whether_or_not_there_is_an_account(client):
    handler = make_user(Role.HANDLER)
    known = client.post("/wachtwoord-vergeten", data={"email": handler.email})
    unknown = client.post("/wachtwoord-vergeten", data={"email": "niemand@example.org"})

    assert known.status_code == unknown.status_code == 200
    assert _failure_page(known) == _failure_page(unknown)
    outbox.compose_pending()
    mails = db.session.scalars(sa.select(OutboxMail)).all()
    assert [m.recipient for m in mails] == [handler.email]


def test_a_reset_link_works_once_and_ends_every_session(app, client):
    handler = make_user(Role.HANDLER)
    elsewhere = app.test_client()
    _login(elsewhere, handler)
    client.post("/wachtwoord-vergeten", data={"email": handler.email})
    token = _token("reset")

    assert client.get("/wachtwoord-instellen").status_code == 200
    done = _choose(client, token)

    assert _path(done) == "/inloggen"
    assert elsewhere.get("/behandelen/").status_code == 302
    again = _choose(client, token, "nog-een-ander-wachtwoord-9")
    assert again.status_code == 422 and "Deze code werkt niet" in again.get_data(as_text=True)
    assert _path(_login(app.test_client(), handler, STRONG)) == "/behandelen/"
    stored = db.session.scalars(sa.select(AccountToken.token_hash)).all()
    assert token not in stored


def test_an_expired_or_unknown_link_opens_nothing(client):
    handler = make_user(Role.HANDLER)
    client.post("/wachtwoord-vergeten", data={"email": handler.email})
    token = _token("reset")
    link = db.session.scalar(sa.select(AccountToken))
    link.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()

    for refused in (_choose(client, token), _choose(client, "verzonnen")):
        assert refused.status_code == 422
        assert "Deze code werkt niet" in refused.get_data(as_text=True)
    assert client.get("/wachtwoord-instellen/" + token).status_code == 404  # no token in a path
    assert _path(_login(client, handler)) == "/behandelen/"  # the old password still works


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("kort-7", "minstens 12"),
        ("password1234", "veelgebruikte"),
        ("qwertyuiopasdfgh", "te makkelijk"),
        ("aaaaaaaaaaaaaaa", "te makkelijk"),
    ],
)
def test_weak_passwords_are_refused_beside_the_field(client, password, message):
    handler = make_user(Role.HANDLER)
    client.post("/wachtwoord-vergeten", data={"email": handler.email})

    refused = _choose(client, _token("reset"), password)

    assert refused.status_code == 422
    assert message in refused.get_data(as_text=True)


def test_a_password_made_of_the_persons_own_name_is_refused():
    user = make_user(Role.HANDLER, name="Joris Dijkstra", email="joris.dijkstra@school.example")
    assert accounts.password_problem("JorisDijkstra2026", user) is not None


def test_an_invited_colleague_chooses_a_password_and_logs_in(app, client):
    institution = make_institution()
    admin = make_user(Role.INSTITUTION_ADMIN, institution)
    _login(client, admin)

    invited = client.post(
        "/organisatie/medewerkers/uitnodigen",
        data={"name": "Nadia Amrani", "email": "Nadia@School.example", "role": "handler"},
    )

    assert _path(invited) == "/organisatie/medewerkers"
    user = db.session.scalar(sa.select(User).where(User.with_email("nadia@school.example")))
    assert user.institution_id == institution.id and user.password_hash is None
    newcomer = app.test_client()
    assert _choose(newcomer, _token("invite")).status_code == 302
    assert _path(_login(newcomer, user, STRONG)) == "/behandelen/"


def test_an_institution_admin_manages_only_their_own_institutions_staff(client):
    admin = make_user(Role.INSTITUTION_ADMIN)
    other = make_user(Role.HANDLER)  # another institution
    _login(client, admin)

    for action in ("uitschakelen", "tweestaps-herstellen", "opnieuw-uitnodigen"):
        assert client.post(f"/organisatie/medewerkers/{other.id}/{action}").status_code == 404
    refused = client.post(
        "/organisatie/medewerkers/uitnodigen",
        data={"name": "X", "email": "x@example.org", "role": "monitor"},
    )
    assert refused.status_code == 422
    assert reloaded(other).active


@pytest.mark.parametrize("role", [Role.HANDLER, Role.SBB_REVIEWER, Role.MONITOR])
def test_staff_pages_do_not_exist_for_other_roles(client, role):
    _login(client, make_user(role))
    for url in ("/organisatie/medewerkers", "/organisatie/logboek", "/organisatie/instelling"):
        assert client.get(url).status_code == 404


def test_logins_and_failures_are_in_the_audit_trail_without_the_password(client):
    handler = make_user(Role.HANDLER)
    _login(client, handler, "geheim-en-fout-1")
    _login(client, handler)
    events = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [e.action for e in events][-2:] == ["auth.login_failed", "auth.logged_in"]
    assert all("geheim-en-fout" not in e.details for e in events)


def test_receipt_code_guessing_is_rate_limited_per_address(client, limited):
    for n in range(200):
        assert client.post("/volgen", data={"code": f"1234 5678 9012 {n:04d}"}).status_code == 422
    blocked = client.post("/volgen", data={"code": "1234 5678 9012 3456"})
    assert blocked.status_code == 429
    assert "Even wachten" in blocked.get_data(as_text=True)


def test_report_submission_is_rate_limited_per_address(client, limited):
    institution = make_meldpunt()
    url = f"/meldpunt/{institution.slug}/melden"
    db.session.commit()
    for _ in range(30):
        assert client.post(url, data={"narrative": ""}).status_code == 422
    assert client.post(url, data={"narrative": "Ze wilden mij niet."}).status_code == 429
    assert client.get(url).status_code == 200  # reading the form is never limited


def _redis_url() -> str | None:
    import socket

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return None
    return "redis://127.0.0.1:6379/15"


def test_with_redis_configured_the_workers_share_one_count():
    """As in production: several processes, one Redis; a limit holds across them."""
    url = _redis_url()
    if url is None:
        pytest.skip("no Redis on 127.0.0.1:6379")
    from limits import parse
    from limits.storage import storage_from_string
    from limits.strategies import FixedWindowRateLimiter

    worker_one = FixedWindowRateLimiter(storage_from_string(url))
    worker_two = FixedWindowRateLimiter(storage_from_string(url))
    limit = parse("3 per minute")
    key = f"stagepact-test-{time.time_ns()}"
    assert [worker_one.hit(limit, key) for _ in range(2)] == [True, True]
    assert worker_two.hit(limit, key) is True
    assert worker_one.hit(limit, key) is False  # the third hit came from the other worker
    worker_one.clear(limit, key)


# --- Staff names and peer admins ---------------------------------------------------------


@pytest.mark.parametrize("name", ["Nadia\r\nBcc: iemand@example.org", "Nadia\nAmrani", "A\x1bB"])
def test_a_staff_name_with_a_line_break_or_control_character_is_refused(client, name):
    admin = make_user(Role.INSTITUTION_ADMIN)
    _login(client, admin)

    refused = client.post(
        "/organisatie/medewerkers/uitnodigen",
        data={"name": name, "email": "nadia@school.example", "role": "handler"},
    )

    assert refused.status_code == 422
    assert "regeleinde" in refused.get_data(as_text=True)
    assert db.session.scalar(sa.select(User).where(User.with_email("nadia@school.example"))) is None
    with pytest.raises(accounts.AccountError):
        accounts.invite(
            email="nadia@school.example",
            name=name,
            role=Role.HANDLER,
            institution=admin.institution,
            actor="system",
        )


@pytest.mark.parametrize(
    ("role", "with_institution", "message"),
    [
        ("handler", False, "Kies de instelling van deze medewerker."),
        ("institution_admin", False, "Kies de instelling van deze medewerker."),
        ("sbb_reviewer", True, "hoort niet bij een instelling"),
        ("monitor", True, "hoort niet bij een instelling"),
    ],
)
def test_the_platform_admin_invites_each_role_with_an_institution_only_where_it_has_one(
    client, role, with_institution, message
):
    """One rule (accounts.check_institution) for the page, the command and the invitation:
    handlers and institution admins belong to an institution, other roles to none. The
    refusal stands beside the institution field, and nothing is created."""
    institution = make_institution()
    _login(client, make_user(Role.PLATFORM_ADMIN, None))

    refused = client.post(
        "/organisatie/medewerkers/uitnodigen",
        data={
            "name": "Nadia Amrani",
            "email": "nadia@school.example",
            "role": role,
            "institution_id": str(institution.id) if with_institution else "",
        },
    )

    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    error = re.search(r'id="institution_id-error">(.*?)</p>', page, re.S)
    assert error and message in error.group(1)
    assert db.session.scalar(sa.select(User).where(User.with_email("nadia@school.example"))) is None


def _with_two_factor(user: User) -> User:
    user.totp_secret = pyotp.random_base32()
    user.totp_enabled_at = utcnow()
    db.session.commit()
    return user


def test_an_institution_admin_cannot_reset_a_peer_admins_two_factor(client):
    institution = make_institution()
    admin = make_user(Role.INSTITUTION_ADMIN, institution)
    peer = _with_two_factor(make_user(Role.INSTITUTION_ADMIN, institution))
    handler = _with_two_factor(make_user(Role.HANDLER, institution))
    _login(client, admin)

    staff_page = client.get("/organisatie/medewerkers").get_data(as_text=True)
    assert f"/organisatie/medewerkers/{peer.id}/tweestaps-herstellen" not in staff_page
    assert f"/organisatie/medewerkers/{handler.id}/tweestaps-herstellen" in staff_page

    refused = client.post(f"/organisatie/medewerkers/{peer.id}/tweestaps-herstellen")
    assert _path(refused) == "/organisatie/medewerkers"
    assert reloaded(peer).totp_enabled_at is not None
    assert "platformbeheerder" in client.get("/organisatie/medewerkers").get_data(as_text=True)

    client.post(f"/organisatie/medewerkers/{handler.id}/tweestaps-herstellen")
    assert reloaded(handler).totp_enabled_at is None


def test_the_platform_admin_resets_an_institution_admins_two_factor(client):
    peer = _with_two_factor(make_user(Role.INSTITUTION_ADMIN))
    _login(client, make_user(Role.PLATFORM_ADMIN))

    client.post(f"/organisatie/medewerkers/{peer.id}/tweestaps-herstellen")

    assert reloaded(peer).totp_enabled_at is None
