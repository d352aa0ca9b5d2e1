"""A meldpunt is open only while someone is there to read a report (issue 15): at least
one active handler who can log in. Until then, and again after its last handler is
disabled, it takes no report, says so kindly and sends the student to the regional ADV;
the school search leaves it out; the platform admin sees it as not ready, with why."""

from __future__ import annotations

import pytest

from stagepact import accounts, scoping
from stagepact.extensions import db
from stagepact.models import Attachment, Case, OutboxMail
from stagepact.vocab import Role
from tests.factories import make_adv, make_case, make_institution, make_user
from tests.helpers import audit_events, count, page_text

NARRATIVE = "Op het gesprek zeiden ze dat mijn hoofddoek niet bij de klanten past."
CLOSED = "Dit meldpunt neemt op dit moment geen meldingen aan."


@pytest.fixture
def without_handler():
    adv = make_adv(name="Bureau Gelijke Behandeling Oost", phone="053 123 45 67")
    institution = make_institution(name="Oostland College", adv=adv)
    db.session.commit()
    return institution


def test_a_meldpunt_without_a_handler_sends_the_student_to_the_adv(client, without_handler):
    page = page_text(client.get(f"/meldpunt/{without_handler.slug}"))

    assert CLOSED in page and "Meld het bij het antidiscriminatiebureau" in page
    assert "Bureau Gelijke Behandeling Oost" in page and "053 123 45 67" in page
    assert f"/meldpunt/{without_handler.slug}/melden" not in page
    assert "Ik heb al een ontvangstcode" in page  # reports already made can be followed


def test_the_form_of_a_closed_meldpunt_is_not_offered(client, without_handler):
    response = client.get(f"/meldpunt/{without_handler.slug}/melden")

    assert response.status_code == 200
    assert CLOSED in page_text(response)
    assert 'name="narrative"' not in page_text(response)


def test_a_crafted_post_to_a_closed_meldpunt_stores_nothing_and_gives_the_text_back(
    client, without_handler
):
    response = client.post(
        f"/meldpunt/{without_handler.slug}/melden",
        data={"narrative": NARRATIVE, "anonymity": "anonymous", "grounds": ["religion"]},
    )

    assert response.status_code == 409
    page = page_text(response)
    assert CLOSED in page and "Je melding is niet verstuurd" in page
    assert NARRATIVE in page  # to copy to the ADV
    assert count(Case) == 0 and count(OutboxMail) == 0 and count(Attachment) == 0


def test_the_school_search_offers_only_open_meldpunten(client, without_handler):
    open_one = make_institution(name="Westland College")
    make_user(Role.HANDLER, open_one)
    db.session.commit()

    page = page_text(client.get("/", query_string={"q": "land college"}))

    assert "Westland College" in page
    assert "Oostland College" not in page and without_handler.slug not in page
    assert "discriminatie.nl" in page


def test_an_invitation_not_yet_accepted_does_not_open_the_meldpunt(client, without_handler):
    admin = make_user(Role.INSTITUTION_ADMIN, without_handler)
    accounts.invite(
        email="nieuw@oostland.example",
        name="Nieuwe Behandelaar",
        role=Role.HANDLER,
        institution=without_handler,
        actor=admin,
    )
    db.session.commit()

    assert not scoping.accepts_reports(without_handler)
    assert CLOSED in page_text(client.get(f"/meldpunt/{without_handler.slug}"))


def test_the_platform_admin_sees_which_meldpunt_is_not_ready_and_why(client, auth):
    invited = make_institution(name="Alfa College")
    make_user(Role.HANDLER, invited).password_hash = None  # invited, no password chosen
    disabled = make_institution(name="Beta College")
    make_user(Role.HANDLER, disabled, active=False)
    empty = make_institution(name="Gamma College")
    ready = make_institution(name="Delta College")
    make_user(Role.HANDLER, ready)
    platform = make_user(Role.PLATFORM_ADMIN)
    db.session.commit()
    assert auth.login(platform).status_code == 302

    page = page_text(client.get("/beheer/instellingen"))

    rows = {
        name: page.split(name, 1)[1].split("</tr>", 1)[0]
        for name in (invited.name, disabled.name, empty.name, ready.name)
    }
    assert "nog geen wachtwoord gekozen" in rows["Alfa College"]
    assert "alle behandelaars zijn uitgeschakeld" in rows["Beta College"]
    assert "er is nog geen behandelaar" in rows["Gamma College"]
    assert "niet klaar" not in rows["Delta College"] and "open" in rows["Delta College"]


def test_disabling_the_last_handler_closes_the_meldpunt_and_tells_the_admins(client):
    institution = make_institution(name="Zuidrand College")
    first = make_user(Role.HANDLER, institution)
    second = make_user(Role.HANDLER, institution)
    admin = make_user(Role.INSTITUTION_ADMIN, institution, email="beheer@zuidrand.example")
    platform = make_user(Role.PLATFORM_ADMIN, email="platform@meldpunt.example")
    case, _code = make_case(institution)
    db.session.commit()

    accounts.disable(first, admin)
    db.session.commit()
    assert scoping.accepts_reports(institution)
    assert audit_events("institution.meldpunt_closed") == []

    accounts.disable(second, admin)
    db.session.commit()

    assert not scoping.accepts_reports(institution)
    [event] = audit_events("institution.meldpunt_closed")
    assert event.institution_id == institution.id
    mails = db.session.query(OutboxMail).filter_by(purpose="meldpunt_closed").all()
    assert sorted(m.recipient for m in mails) == [admin.email, platform.email]
    assert all("Zuidrand College" in m.subject for m in mails)
    assert CLOSED in page_text(client.get(f"/meldpunt/{institution.slug}"))
    assert db.session.get(Case, case.id).status == "new"  # open cases stay as they were


def test_a_meldpunt_opens_again_when_a_handler_can_log_in(client, without_handler):
    assert CLOSED in page_text(client.get(f"/meldpunt/{without_handler.slug}"))

    make_user(Role.HANDLER, without_handler)
    db.session.commit()

    page = page_text(client.get(f"/meldpunt/{without_handler.slug}"))
    assert CLOSED not in page
    assert f"/meldpunt/{without_handler.slug}/melden" in page
