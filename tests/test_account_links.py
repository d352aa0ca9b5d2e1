"""Reset and invitation links: tokens never in a URL or a log, a few mails an hour at most,
a new link does not cancel an open one, invitations last 72 hours."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from stagepact import accounts, outbox
from stagepact.extensions import db
from stagepact.models import AccountToken, AuditEvent, OutboxMail, User, utcnow
from stagepact.vocab import Role
from tests.factories import PASSWORD, make_institution, make_user

STRONG = "paars-kanaal-fietsbel-7"
OTHER_STRONG = "groene-veerpont-zomer-42"


def _links(purpose: str) -> list[str]:
    outbox.compose_pending()  # what send-mail does first
    mails = db.session.scalars(
        sa.select(OutboxMail)
        .where(OutboxMail.purpose == f"account_{purpose}")
        .order_by(OutboxMail.id)
    ).all()
    return [re.search(r"https?://\S+", mail.body).group(0) for mail in mails]


def _token(link: str) -> str:
    return urlsplit(link).fragment


def _choose(client, token: str, password: str = STRONG):
    return client.post(
        "/wachtwoord-instellen", data={"token": token, "password": password, "repeat": password}
    )


class AccessLog:
    """Every request line as gunicorn's default access log and werkzeug's would write it:
    the request line with its query string, the status and the Referer."""

    def __init__(self, app):
        self.lines: list[str] = []
        self._app = app
        self._inner = app.wsgi_app

    def __enter__(self):
        def logged(environ, start_response):
            def start(status, headers, exc_info=None):
                query = environ.get("QUERY_STRING")
                uri = environ.get("PATH_INFO", "") + (f"?{query}" if query else "")
                method, protocol = environ["REQUEST_METHOD"], environ.get("SERVER_PROTOCOL")
                self.lines.append(
                    f'{environ.get("REMOTE_ADDR")} - - "{method} {uri} {protocol}" '
                    f'{status.split()[0]} - "{environ.get("HTTP_REFERER", "-")}"'
                )
                location = dict(headers).get("Location")
                if location:
                    self.lines.append(f"Location: {location}")
                return start_response(status, headers, exc_info)

            return self._inner(environ, start)

        self._app.wsgi_app = logged
        return self

    def __exit__(self, *exc):
        self._app.wsgi_app = self._inner


def _open_like_a_browser(client, link: str, **kwargs):
    """A browser sends the path and query of a link, never its fragment."""
    parts = urlsplit(link)
    return client.get(parts.path + (f"?{parts.query}" if parts.query else ""), **kwargs)


def test_reset_and_invitation_tokens_are_in_no_url_and_no_log(app, client, caplog):
    institution = make_institution()
    admin = make_user(Role.INSTITUTION_ADMIN, institution)
    handler = make_user(Role.HANDLER, institution)
    db.session.commit()
    caplog.set_level(logging.DEBUG)
    with AccessLog(app) as log:
        client.post("/wachtwoord-vergeten", data={"email": handler.email})
        [reset_link] = _links("reset")
        page = _open_like_a_browser(client, reset_link)
        assert page.status_code == 200 and "link-code.js" in page.get_data(as_text=True)
        done = _choose(client, _token(reset_link))
        assert done.status_code == 302

        staff = app.test_client()
        staff.post("/inloggen", data={"email": admin.email, "password": PASSWORD})
        staff.post(
            "/organisatie/medewerkers/uitnodigen",
            data={"name": "Nadia Amrani", "email": "nadia@school.example", "role": "handler"},
        )
        [invite_link] = _links("invite")
        newcomer = app.test_client()
        _open_like_a_browser(newcomer, invite_link, headers={"Referer": "https://mail.example/"})
        assert _choose(newcomer, _token(invite_link)).status_code == 302

    tokens = [_token(reset_link), _token(invite_link)]
    assert all(len(token) >= 40 for token in tokens)
    assert urlsplit(reset_link).path == urlsplit(invite_link).path == "/wachtwoord-instellen"
    assert len(log.lines) >= 6
    for token in tokens:
        assert not any(token in line for line in log.lines), log.lines
        assert token not in caplog.text
        stored = db.session.scalars(sa.select(AccountToken.token_hash)).all()
        assert token not in stored  # only its SHA-256
        details = " ".join(db.session.scalars(sa.select(AuditEvent.details)).all())
        assert token not in details


def test_the_code_can_be_pasted_without_the_script(client):
    handler = make_user(Role.HANDLER)
    db.session.commit()
    client.post("/wachtwoord-vergeten", data={"email": handler.email})
    [link] = _links("reset")
    mail = db.session.scalars(sa.select(OutboxMail)).one().body

    # The code stands on its own line in the mail, to paste into the visible field.
    assert f"\n{_token(link)}\n" in mail
    page = client.get("/wachtwoord-instellen").get_data(as_text=True)
    assert 'name="token"' in page and 'type="hidden" name="token"' not in page
    assert _choose(client, f"  {_token(link)} ").status_code == 302


def test_a_wrong_code_is_refused_beside_the_field_and_keeps_nothing_else(client):
    refused = _choose(client, "geen-echte-code")
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "Deze code werkt niet" in html
    assert STRONG not in html


def test_at_most_three_reset_mails_an_hour_for_one_account_and_the_same_answer(client):
    handler = make_user(Role.HANDLER)
    db.session.commit()
    answers = [client.post("/wachtwoord-vergeten", data={"email": handler.email}) for _ in range(6)]
    unknown = client.post("/wachtwoord-vergeten", data={"email": "niemand@example.org"})

    assert len(_links("reset")) == accounts.RESET_MAILS_PER_HOUR == 3
    pages = {
        a.get_data(as_text=True).replace(handler.email, "").replace("niemand@example.org", "")
        for a in [*answers, unknown]
    }
    assert {a.status_code for a in [*answers, unknown]} == {200} and len(pages) == 1

    for token in db.session.scalars(sa.select(AccountToken)).all():
        token.created_at = utcnow() - timedelta(minutes=61)
    db.session.commit()
    client.post("/wachtwoord-vergeten", data={"email": handler.email})
    assert len(_links("reset")) == 4


def test_a_new_reset_link_does_not_cancel_an_open_one_until_one_is_used(app, client):
    handler = make_user(Role.HANDLER)
    db.session.commit()
    client.post("/wachtwoord-vergeten", data={"email": handler.email})  # the owner
    app.test_client().post("/wachtwoord-vergeten", data={"email": handler.email})  # a stranger
    first, second = (_token(link) for link in _links("reset"))

    assert _choose(client, first).status_code == 302  # the owner's link still works
    refused = _choose(client, second, OTHER_STRONG)  # and using it closed the other
    assert refused.status_code == 422


def test_an_invitation_lasts_72_hours(app, client):
    institution = make_institution()
    _user, token = accounts.invite(
        email="nieuw@school.example",
        name="Nieuwe Collega",
        role=Role.HANDLER,
        institution=institution,
        actor="system",
    )
    db.session.commit()
    link = db.session.scalars(sa.select(AccountToken)).one()
    assert link.expires_at - link.created_at == timedelta(hours=72)

    link.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    refused = _choose(client, token)
    assert refused.status_code == 422
    assert db.session.scalar(sa.select(User.password_hash)) is None


def test_the_old_path_with_a_token_in_it_no_longer_exists(client):
    handler = make_user(Role.HANDLER)
    token = accounts.issue_link(handler, AccountToken.RESET)
    db.session.commit()
    assert client.get(f"/wachtwoord-instellen/{token}").status_code == 404


@pytest.mark.parametrize("email", ["niemand@example.org", "uitgeschakeld@example.org"])
def test_a_reset_for_an_address_without_an_active_account_sends_nothing(client, email):
    make_user(Role.HANDLER, email="uitgeschakeld@example.org", active=False)
    db.session.commit()
    assert client.post("/wachtwoord-vergeten", data={"email": email}).status_code == 200
    assert outbox.compose_pending() == 1
    assert db.session.scalars(sa.select(OutboxMail)).all() == []


def test_the_request_does_the_same_work_for_an_account_and_for_nobody(app, client):
    """The same statements, in the same order, whether or not the address has an account."""
    email = make_user(Role.HANDLER).email
    db.session.commit()
    client.post("/wachtwoord-vergeten", data={"email": "eerste@example.org"})  # starts the trail
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", seen)
    try:
        client.post("/wachtwoord-vergeten", data={"email": email})
        known = list(statements)
        statements.clear()
        client.post("/wachtwoord-vergeten", data={"email": "niemand@example.org"})
        unknown = list(statements)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", seen)
    assert known == unknown and known
    assert not any("user_account" in statement for statement in known)
