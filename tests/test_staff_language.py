"""A staff member's language: the browser's first guess, their own choice kept on the
account, and their mails in it. Students' choices stay in the browser session."""

from __future__ import annotations

import time

import pyotp
import sqlalchemy as sa

from stagepact import notify
from stagepact.extensions import db
from stagepact.models import OutboxMail, User
from stagepact.vocab import Role
from tests.factories import PASSWORD, make_case, make_institution, make_user

ENGLISH = {"Accept-Language": "en-GB,en;q=0.9"}
DUTCH = {"Accept-Language": "nl-NL,nl;q=0.9"}


def _login(client, user, headers=None):
    db.session.commit()
    return client.post(
        "/inloggen", data={"email": user.email, "password": PASSWORD}, headers=headers or {}
    )


def _language(user) -> str | None:
    db.session.expire_all()
    return db.session.get(User, user.id).language


def _lang_of(response) -> str:
    page = response.get_data(as_text=True)
    return page.split('<html lang="', 1)[1].split('"', 1)[0]


def _mails(purpose: str) -> list[OutboxMail]:
    return db.session.scalars(sa.select(OutboxMail).where(OutboxMail.purpose == purpose)).all()


def test_the_first_login_keeps_the_browsers_preference_on_the_account(client):
    handler = make_user(Role.HANDLER)
    assert handler.language is None

    _login(client, handler, ENGLISH)

    assert _language(handler) == "en"
    assert _lang_of(client.get("/account", headers=ENGLISH)) == "en"


def test_a_choice_follows_the_staff_member_to_another_browser(app, client):
    handler = make_user(Role.HANDLER, language="en")
    _login(client, handler, ENGLISH)

    assert client.post("/taal", data={"lang": "nl", "next": "/account"}).status_code == 303
    assert _language(handler) == "nl"

    elsewhere = app.test_client()
    _login(elsewhere, handler, ENGLISH)  # the account's choice wins over this browser
    assert _lang_of(elsewhere.get("/account", headers=ENGLISH)) == "nl"
    assert _language(handler) == "nl"


def test_a_language_chosen_on_the_login_page_goes_to_the_account(client):
    handler = make_user(Role.HANDLER, language="nl")
    client.post("/taal", data={"lang": "en", "next": "/inloggen"})

    _login(client, handler, DUTCH)

    assert _language(handler) == "en"
    assert _lang_of(client.get("/account", headers=DUTCH)) == "en"


def test_staff_pages_stay_in_a_staff_language_when_a_student_language_was_chosen(client):
    handler = make_user(Role.HANDLER, language="en")
    client.post("/taal", data={"lang": "ar", "next": "/"})
    _login(client, handler, {"Accept-Language": "ar"})

    page = client.get("/account")
    assert '<html lang="en" dir="ltr">' in page.get_data(as_text=True)
    client.post("/taal", data={"lang": "tr", "next": "/account"})
    assert _lang_of(client.get("/account")) == "en"
    assert _language(handler) == "en"  # only a staff language is kept on the account


def test_a_students_choice_is_kept_in_the_session_only(client):
    response = client.post("/taal", data={"lang": "pl", "next": "/"})
    cookies = response.headers.getlist("Set-Cookie")
    assert len(cookies) == 1 and cookies[0].startswith("session=")
    assert "Expires=" not in cookies[0]  # gone when the browser closes
    assert _lang_of(client.get("/")) == "pl"


def test_handlers_get_their_mails_each_in_their_own_language():
    institution = make_institution()
    english = make_user(Role.HANDLER, institution, language="en")
    dutch = make_user(Role.HANDLER, institution, language="nl")
    unknown = make_user(Role.HANDLER, institution)  # never logged in: Dutch
    case = make_case(institution=institution)[0]

    notify.handlers_of_new_case(case)
    db.session.flush()

    subjects = {mail.recipient: mail.subject for mail in _mails("handler_new_case")}
    assert subjects[english.email] == f"New report {case.number} at the reporting point"
    assert subjects[dutch.email] == f"Nieuwe melding {case.number} bij het meldpunt"
    assert subjects[unknown.email] == subjects[dutch.email]
    body = next(m.body for m in _mails("handler_new_case") if m.recipient == english.email)
    assert "melding" not in body.lower()


def test_an_invitation_goes_in_the_language_the_admin_chose(client):
    institution = make_institution()
    admin = make_user(Role.INSTITUTION_ADMIN, institution)
    _login(client, admin)

    client.post(
        "/organisatie/medewerkers/uitnodigen",
        data={
            "name": "Nadia Amrani",
            "email": "nadia@school.example",
            "role": "handler",
            "language": "en",
        },
    )

    user = db.session.scalar(sa.select(User).where(User.with_email("nadia@school.example")))
    assert user.language == "en"
    [mail] = _mails("account_invite")
    assert mail.subject == "Invitation to the internship discrimination reporting point"


def test_an_invitation_in_a_language_staff_pages_do_not_have_is_refused(client):
    admin = make_user(Role.INSTITUTION_ADMIN)
    _login(client, admin)

    refused = client.post(
        "/organisatie/medewerkers/uitnodigen",
        data={
            "name": "Nadia",
            "email": "nadia@school.example",
            "role": "handler",
            "language": "ar",
        },
    )

    assert refused.status_code == 422
    assert 'id="language-error"' in refused.get_data(as_text=True)
    assert db.session.scalar(sa.select(User).where(User.with_email("nadia@school.example"))) is None


def test_the_operator_gives_a_new_account_its_language(runner):
    result = runner.invoke(
        args=[
            "stagepact",
            "create-user",
            "--email",
            "monitor@example.org",
            "--name",
            "Monitor",
            "--role",
            "monitor",
            "--invite",
            "--language",
            "en",
        ]
    )

    assert result.exit_code == 0, result.output
    db.session.expire_all()
    user = db.session.scalar(sa.select(User).where(User.with_email("monitor@example.org")))
    assert user.language == "en"
    [mail] = _mails("account_invite")
    assert mail.subject.startswith("Invitation")


def test_choosing_a_language_keeps_the_page_and_its_query(client):
    monitor = make_user(Role.MONITOR, language="nl")
    _login(client, monitor)
    table = "/statistieken/?period=year&year=2025&dimension=phase"

    page = client.get(table).get_data(as_text=True)
    assert (
        'name="next" value="/statistieken/?period=year&amp;year=2025&amp;dimension=phase"' in page
    )
    chosen = client.post("/taal", data={"lang": "en", "next": table})

    assert chosen.headers["Location"].endswith(table)


def test_a_choice_on_the_login_page_survives_the_second_factor(client, enforced):
    monitor = make_user(Role.MONITOR, language="nl")
    client.post("/taal", data={"lang": "en", "next": "/inloggen"})

    _login(client, monitor, DUTCH)
    enrol = client.get("/inloggen/tweestapsverificatie", headers=DUTCH)
    assert _lang_of(enrol) == "en"
    db.session.expire_all()
    code = pyotp.TOTP(db.session.get(User, monitor.id).totp_secret).at(time.time())
    client.post("/inloggen/tweestapsverificatie", data={"code": code}, headers=DUTCH)

    assert _language(monitor) == "en"


def test_an_old_choice_in_the_browser_does_not_change_the_next_account(client, monkeypatch):
    """A student chose English on a shared computer an hour ago; a handler logs in."""
    handler = make_user(Role.HANDLER, language="nl")
    client.post("/taal", data={"lang": "en", "next": "/"})
    later = time.time() + 60 * 60
    monkeypatch.setattr(time, "time", lambda: later)

    _login(client, handler, DUTCH)

    assert _language(handler) == "nl"
    assert _lang_of(client.get("/account", headers=ENGLISH)) == "nl"


def test_a_logged_in_staff_members_choice_is_not_given_to_the_next_one(app, client):
    first = make_user(Role.HANDLER, language="nl")
    second = make_user(Role.HANDLER, language="nl")
    _login(client, first)
    client.post("/taal", data={"lang": "en", "next": "/account"})
    client.post("/uitloggen")

    _login(client, second, DUTCH)

    assert (_language(first), _language(second)) == ("en", "nl")


def test_the_login_pages_are_in_a_staff_language_only(client):
    page = client.get("/inloggen", headers={"Accept-Language": "tr,en;q=0.5"})
    html = page.get_data(as_text=True)

    assert _lang_of(page) == "en"
    assert 'value="tr"' not in html and 'value="en"' in html  # the language buttons
    assert _lang_of(client.get("/", headers={"Accept-Language": "tr"})) == "tr"


def test_a_stored_language_that_is_not_a_staff_language_is_ignored(client):
    handler = make_user(Role.HANDLER, language="xx")
    _login(client, handler, ENGLISH)

    assert _lang_of(client.get("/account", headers=ENGLISH)) == "en"
    assert _language(handler) == "en"


def test_each_handler_reads_what_sbb_did_in_their_own_language(app):
    """SBB's reviewer works in English; each assigned handler reads the news in theirs."""
    from stagepact import investigations, workflow
    from tests.factories import make_company

    reviewer = make_user(Role.SBB_REVIEWER, language="en")
    handlers = {}
    for language in ("en", "nl"):
        institution = make_institution()
        handler = make_user(Role.HANDLER, institution, language=language)
        case = make_case(institution, consent_sbb=True, company_id=make_company().id)[0]
        workflow.acknowledge(case, handler)
        workflow.assign(case, handler, handler)
        investigation = workflow.escalate(case, handler, "Samenvatting.", False)
        with app.test_request_context(headers=ENGLISH):
            investigations.start(investigation, reviewer)
        handlers[language] = handler
    db.session.flush()

    bodies = {m.recipient: m.body for m in _mails("handler_sbb_news")}
    assert "onderzoek gestart" in bodies[handlers["nl"].email]
    assert "investigation started" in bodies[handlers["en"].email]
    assert "onderzoek gestart" not in bodies[handlers["en"].email]


def test_a_next_path_with_control_characters_goes_to_the_start(client):
    response = client.post("/taal", data={"lang": "en", "next": "/volgen\r\nSet-Cookie: x=1"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/")
