"""The platform admin's pages: the ADV register and each institution's default ADV."""

from __future__ import annotations

import html as html_lib
import json
import re
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from stagepact import admin
from stagepact.extensions import db
from stagepact.models import Adv, AuditEvent, Institution
from stagepact.vocab import Role
from tests.factories import PASSWORD, make_adv, make_case, make_institution, make_user
from tests.helpers import audit_events, field_error, in_blueprint, reloaded, walk_routes

ADV_FORM = {
    "name": "Antidiscriminatiebureau Zuidkust",
    "region": "Zeeland",
    "municipalities": "Middelburg, Vlissingen\nGoes",
    "email": "info@adv-zuidkust.example.org",
    "phone": "+31 (0)118 - 123 456",
    "website": "https://adv-zuidkust.example.org",
}

# Filled in for every POST, so that a request that wrongly got through would change something.
HOSTILE_FORM = {**ADV_FORM, "adv": ""}


def _text(response) -> str:
    return html_lib.unescape(response.get_data(as_text=True))


def _details(event: AuditEvent) -> dict:
    return json.loads(event.details)


def _platform_requests(app, adv_id: int, institution_id: int) -> list[tuple[str, str]]:
    """(method, url) for every platform rule; a new route is covered without a change here."""
    ids = {"adv_id": adv_id, "institution_id": institution_id}
    routes = walk_routes(app, ids, where=in_blueprint("platform"), methods=("GET", "POST"))
    return [(route.method, route.url) for route in routes]


def _send(client, method: str, url: str):
    return client.post(url, data=HOSTILE_FORM) if method == "POST" else client.get(url)


def _register_state() -> list[tuple]:
    """What a change to the register or to a default ADV would show."""
    db.session.expire_all()
    advs = db.session.execute(sa.select(Adv.id, *[getattr(Adv, f) for f in admin.ADV_FIELDS]))
    defaults = db.session.execute(sa.select(Institution.id, Institution.adv_id))
    return sorted(advs.all()) + sorted(defaults.all())


@pytest.fixture
def platform_admin():
    return make_user(Role.PLATFORM_ADMIN, name="Paula Platform")


# --- Who may enter -----------------------------------------------------------------------


def test_the_platform_pages_cover_the_register_and_the_institutions(app):
    urls = {url for _method, url in _platform_requests(app, 7, 9)}
    assert urls == {
        "/beheer/",
        "/beheer/adv",
        "/beheer/adv/nieuw",
        "/beheer/adv/7",
        "/beheer/instellingen",
        "/beheer/instellingen/9/adv",
    }


@pytest.mark.parametrize(
    "role", [Role.HANDLER, Role.INSTITUTION_ADMIN, Role.SBB_REVIEWER, Role.MONITOR]
)
def test_other_roles_find_no_platform_pages(app, client, auth, role):
    institution = make_institution()
    user = make_user(role, institution if role in (Role.HANDLER, Role.INSTITUTION_ADMIN) else None)
    db.session.commit()
    before = _register_state()
    events_before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    assert auth.login(user).status_code == 302

    requests = _platform_requests(app, institution.adv_id, institution.id)
    answers = {(method, url): _send(client, method, url).status_code for method, url in requests}

    assert len(answers) >= 9
    assert {request: code for request, code in answers.items() if code != 404} == {}
    assert _register_state() == before
    # Only the login was recorded.
    events_after = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    assert events_after == events_before + 1


def test_anonymous_visitors_are_sent_to_the_login_page_from_every_platform_url(app, client):
    institution = make_institution()
    db.session.commit()
    before = _register_state()

    for method, url in _platform_requests(app, institution.adv_id, institution.id):
        response = _send(client, method, url)
        assert response.status_code == 302, (method, url)
        assert urlsplit(response.headers["Location"]).path == "/inloggen", (method, url)

    assert _register_state() == before


def test_every_platform_form_is_refused_without_a_csrf_token(
    app, client, auth, platform_admin, csrf_enabled
):
    institution = make_institution()
    db.session.commit()
    token_page = _text(client.get("/inloggen"))
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', token_page).group(1)
    client.post(
        "/inloggen",
        data={"email": platform_admin.email, "password": PASSWORD, "csrf_token": token},
    )
    assert client.get("/beheer/").status_code == 200
    before = _register_state()

    posts = [
        url
        for method, url in _platform_requests(app, institution.adv_id, institution.id)
        if method == "POST"
    ]
    answers = {url: client.post(url, data=HOSTILE_FORM).status_code for url in posts}

    assert len(answers) == 3
    assert {url: code for url, code in answers.items() if code != 400} == {}
    assert _register_state() == before


def test_the_account_page_links_a_platform_admin_to_the_platform_pages(client, auth):
    platform_admin = make_user(Role.PLATFORM_ADMIN)
    monitor = make_user(Role.MONITOR)

    auth.login(platform_admin)
    assert 'href="/beheer/"' in client.get("/account").get_data(as_text=True)
    auth.logout()
    auth.login(monitor)
    assert 'href="/beheer/"' not in client.get("/account").get_data(as_text=True)


def test_the_overview_links_to_the_register_and_the_institutions(client, auth, platform_admin):
    make_institution()
    make_institution(adv=None).adv = None
    auth.login(platform_admin)

    response = client.get("/beheer/")

    page = _text(response)
    assert response.status_code == 200
    assert 'href="/beheer/adv"' in page
    assert 'href="/beheer/instellingen"' in page
    assert "2 instellingen." in page
    assert "1 heeft geen standaard-ADV." in page


# --- The ADV register --------------------------------------------------------------------


def test_the_register_lists_every_adv_by_name_with_its_contact_details_and_use(
    client, auth, platform_admin
):
    zuid = make_adv(
        name="ADV Zuid", region="Limburg", email="zuid@adv.example.org", phone="043 111 2222"
    )
    noord = make_adv(name="adv Noord", region="Groningen", website="https://noord.example.org")
    make_adv(name="ADV Midden", region="Utrecht", email=None, phone=None, website=None)
    make_institution(adv=zuid)
    make_institution(adv=zuid)
    make_institution(adv=noord)
    auth.login(platform_admin)

    response = client.get("/beheer/adv")

    page = _text(response)
    assert response.status_code == 200
    rows = dict(
        re.findall(
            r'<th scope="row"><a href="/beheer/adv/\d+">([^<]+)</a></th>(.*?)</tr>', page, re.S
        )
    )
    assert list(rows) == ["ADV Midden", "adv Noord", "ADV Zuid"]  # by name, ignoring capitals
    assert "Limburg" in rows["ADV Zuid"]
    assert "zuid@adv.example.org" in rows["ADV Zuid"]
    assert "043 111 2222" in rows["ADV Zuid"]
    assert "2 instellingen" in rows["ADV Zuid"]
    assert "https://noord.example.org" in rows["adv Noord"]
    assert "1 instelling" in rows["adv Noord"]
    assert "0 instellingen" in rows["ADV Midden"]
    assert '<th scope="col">' in page


def test_the_platform_admin_adds_an_adv(client, auth, platform_admin):
    auth.login(platform_admin)
    assert client.get("/beheer/adv/nieuw").status_code == 200

    response = client.post("/beheer/adv/nieuw", data=ADV_FORM)

    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/beheer/adv"
    adv = db.session.scalar(sa.select(Adv))
    assert adv.name == "Antidiscriminatiebureau Zuidkust"
    assert adv.region == "Zeeland"
    assert adv.municipalities == "Middelburg\nVlissingen\nGoes"
    assert adv.email == "info@adv-zuidkust.example.org"
    assert adv.phone == "+31 (0)118 - 123 456"
    assert adv.website == "https://adv-zuidkust.example.org"
    [event] = audit_events("adv.created")
    assert event.actor_id == platform_admin.id
    assert event.institution_id is None and event.case_id is None
    assert _details(event) == {"adv_id": adv.id, "fields": list(admin.ADV_FIELDS)}
    listing = _text(client.get("/beheer/adv"))
    assert "ADV toegevoegd: Antidiscriminatiebureau Zuidkust." in listing


def test_an_adv_needs_only_a_name_and_a_region(client, auth, platform_admin):
    auth.login(platform_admin)

    response = client.post(
        "/beheer/adv/nieuw", data={"name": "  ADV Klein  ", "region": " Drenthe ", "email": "  "}
    )

    assert response.status_code == 302
    adv = db.session.scalar(sa.select(Adv))
    assert (adv.name, adv.region, adv.municipalities) == ("ADV Klein", "Drenthe", "")
    assert (adv.email, adv.phone, adv.website) == (None, None, None)
    assert _details(audit_events("adv.created")[0])["fields"] == ["name", "region"]


def test_the_platform_admin_edits_an_adv_and_the_event_names_only_the_changed_fields(
    client, auth, platform_admin
):
    adv = make_adv(name="ADV Oud", region="Twente", municipalities="Enschede\nHengelo")
    auth.login(platform_admin)
    form_page = _text(client.get(f"/beheer/adv/{adv.id}"))
    assert 'value="ADV Oud"' in form_page
    assert "Enschede\nHengelo" in form_page

    response = client.post(
        f"/beheer/adv/{adv.id}",
        data={
            "name": "ADV Nieuw",
            "region": "Twente",
            "municipalities": "Enschede, Hengelo, Almelo",
            "email": adv.email,
            "phone": "",
            "website": adv.website,
        },
    )

    assert response.status_code == 302
    fresh = reloaded(Adv, adv.id)
    assert fresh.name == "ADV Nieuw"
    assert fresh.municipalities == "Enschede\nHengelo\nAlmelo"
    assert fresh.phone is None
    [event] = audit_events("adv.updated")
    assert event.actor_id == platform_admin.id
    assert _details(event) == {"adv_id": adv.id, "fields": ["name", "municipalities", "phone"]}
    # No value of any field is in the event.
    assert "ADV" not in event.details and "Almelo" not in event.details
    assert "Wijzigingen opgeslagen: ADV Nieuw." in _text(client.get("/beheer/adv"))


def test_saving_an_unchanged_adv_writes_no_event(client, auth, platform_admin):
    adv = make_adv(municipalities="Delft")
    auth.login(platform_admin)
    data = {field: getattr(adv, field) or "" for field in admin.ADV_FIELDS}

    response = client.post(f"/beheer/adv/{adv.id}", data=data)

    assert response.status_code == 302
    assert audit_events("adv.updated") == []
    assert "Er was niets gewijzigd." in _text(client.get("/beheer/adv"))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "   ", "Vul de naam van de ADV in."),
        ("name", "x" * 201, "Gebruik hier hoogstens 200 tekens."),
        ("region", "", "Vul de regio in waar de ADV werkt."),
        ("region", "r" * 201, "Gebruik hier hoogstens 200 tekens."),
        ("email", "geen-adres", "Dit is geen geldig e-mailadres."),
        ("email", "a" * 245 + "@example.org", "Dit e-mailadres is te lang."),
        ("phone", "bel 020 123", "alleen cijfers, spaties, +, - en haakjes"),
        ("phone", "()", "alleen cijfers, spaties, +, - en haakjes"),
        ("phone", "1" * 41, "Gebruik hier hoogstens 40 tekens."),
        ("website", "www.adv.nl", "begint met https:// of http://"),
        ("website", "javascript:alert(1)", "begint met https:// of http://"),
        ("website", "https://", "begint met https:// of http://"),
        ("website", "https://adv.nl/met spatie", "begint met https:// of http://"),
        ("website", "https://" + "a" * 293 + ".nl", "Gebruik hier hoogstens 300 tekens."),
    ],
)
def test_an_invalid_adv_is_refused_with_the_message_beside_the_field_and_the_input_kept(
    client, auth, platform_admin, field, value, message
):
    auth.login(platform_admin)
    data = {**ADV_FORM, field: value}

    response = client.post("/beheer/adv/nieuw", data=data)

    page = _text(response)
    assert response.status_code == 422
    assert message in field_error(page, field)
    assert f'href="#{field}"' in page  # the error summary links to the field
    for other in ("name", "region", "email", "phone", "website"):
        if other != field:
            assert f'value="{data[other]}"' in page
    assert "Middelburg, Vlissingen\nGoes" in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Adv)) == 0
    assert audit_events("adv.created") == []


def test_an_invalid_edit_leaves_the_adv_as_it_was(client, auth, platform_admin):
    adv = make_adv(name="ADV Blijft", website="https://blijft.example.org")
    auth.login(platform_admin)

    response = client.post(
        f"/beheer/adv/{adv.id}",
        data={**ADV_FORM, "name": "ADV Anders", "website": "ftp://adv.example.org"},
    )

    page = _text(response)
    assert response.status_code == 422
    assert "begint met https:// of http://" in field_error(page, "website")
    assert 'value="ADV Anders"' in page and 'value="ftp://adv.example.org"' in page
    fresh = reloaded(Adv, adv.id)
    assert (fresh.name, fresh.website) == ("ADV Blijft", "https://blijft.example.org")
    assert audit_events("adv.updated") == []


def test_municipalities_are_stored_one_per_line_without_blanks_or_repeats():
    assert admin.normalise_municipalities(" Goes ,, Vlissingen\r\n\n goes\nTer  Veere ") == (
        "Goes\nVlissingen\nTer Veere"
    )
    assert admin.normalise_municipalities("") == ""


@pytest.mark.parametrize("url", ["/beheer/adv/999999", "/beheer/adv/0", "/beheer/adv/" + "9" * 20])
def test_an_unknown_adv_is_not_found(client, auth, platform_admin, url):
    make_adv()
    auth.login(platform_admin)
    assert client.get(url).status_code == 404
    assert client.post(url, data=ADV_FORM).status_code == 404
    assert audit_events("adv.updated") == [] and audit_events("adv.created") == []


# --- Each institution's default ADV ------------------------------------------------------


def test_the_institution_list_shows_each_default_adv(client, auth, platform_admin):
    amstel = make_adv(name="ADV Amstelland")
    make_institution(name="ROC Amstel", adv=amstel)
    make_institution(name="Grafisch College").adv = None
    auth.login(platform_admin)

    page = _text(client.get("/beheer/instellingen"))

    rows = dict(re.findall(r'<th scope="row">([^<]+)</th>(.*?)</tr>', page, re.S))
    assert list(rows) == ["Grafisch College", "ROC Amstel"]
    assert "ADV Amstelland" in rows["ROC Amstel"]
    assert "geen" in rows["Grafisch College"]


def test_the_platform_admin_sets_and_clears_an_institutions_default_adv(
    client, auth, platform_admin
):
    old = make_adv(name="ADV Oud")
    new = make_adv(name="ADV Nieuw", region="Rijnmond")
    institution = make_institution(name="ROC Maas", adv=old)
    other = make_institution(adv=old)
    auth.login(platform_admin)
    url = f"/beheer/instellingen/{institution.id}/adv"
    form_page = _text(client.get(url))
    assert re.search(rf'<option selected value="{old.id}">', form_page)
    assert "ADV Nieuw (Rijnmond)" in form_page

    response = client.post(url, data={"adv": str(new.id)})

    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/beheer/instellingen"
    assert reloaded(Institution, institution.id).adv_id == new.id
    assert reloaded(Institution, other.id).adv_id == old.id
    [event] = audit_events("institution.settings_changed")
    assert event.institution_id == institution.id and event.actor_id == platform_admin.id
    assert _details(event) == {"fields": ["adv_id"], "adv_id": new.id, "previous_adv_id": old.id}
    assert "De standaard-ADV van ROC Maas is nu ADV Nieuw." in _text(
        client.get("/beheer/instellingen")
    )

    response = client.post(url, data={"adv": ""})

    assert response.status_code == 302
    assert reloaded(Institution, institution.id).adv_id is None
    cleared = audit_events("institution.settings_changed")[-1]
    assert _details(cleared) == {"fields": ["adv_id"], "adv_id": None, "previous_adv_id": new.id}
    assert "ROC Maas heeft nu geen standaard-ADV." in _text(client.get("/beheer/instellingen"))


def test_choosing_the_same_default_adv_again_writes_no_event(client, auth, platform_admin):
    institution = make_institution()
    auth.login(platform_admin)

    response = client.post(
        f"/beheer/instellingen/{institution.id}/adv", data={"adv": str(institution.adv_id)}
    )

    assert response.status_code == 302
    assert audit_events("institution.settings_changed") == []


@pytest.mark.parametrize("choice", ["999999", "abc", "1; drop table adv"])
def test_an_adv_outside_the_register_is_refused(client, auth, platform_admin, choice):
    institution = make_institution()
    before = institution.adv_id
    auth.login(platform_admin)

    response = client.post(f"/beheer/instellingen/{institution.id}/adv", data={"adv": choice})

    assert response.status_code == 422
    page = _text(response)
    assert "Kies een ADV uit de lijst, of kies Geen." in field_error(page, "adv")
    assert reloaded(Institution, institution.id).adv_id == before
    assert audit_events("institution.settings_changed") == []


def test_an_unknown_institution_is_not_found(client, auth, platform_admin):
    adv = make_adv()
    auth.login(platform_admin)
    assert client.get("/beheer/instellingen/999999/adv").status_code == 404
    response = client.post("/beheer/instellingen/999999/adv", data={"adv": str(adv.id)})
    assert response.status_code == 404
    assert audit_events("institution.settings_changed") == []


def test_the_student_sees_the_new_default_advs_contact_details(client, auth, platform_admin):
    institution = make_institution(slug="roc-kust")
    auth.login(platform_admin)
    client.post(
        "/beheer/adv/nieuw",
        data={**ADV_FORM, "phone": "0118 123 456"},
    )
    adv = db.session.scalar(sa.select(Adv).where(Adv.name == ADV_FORM["name"]))
    client.post(f"/beheer/instellingen/{institution.id}/adv", data={"adv": str(adv.id)})
    auth.logout()

    page = client.get("/meldpunt/roc-kust").get_data(as_text=True)

    assert "Antidiscriminatiebureau Zuidkust" in page
    assert 'href="tel:0118123456"' in page
    assert 'href="mailto:info@adv-zuidkust.example.org"' in page
    assert 'href="https://adv-zuidkust.example.org"' in page


def test_a_student_of_an_institution_without_a_default_adv_is_pointed_to_discriminatie_nl(
    client, auth, platform_admin
):
    institution = make_institution(slug="roc-zonder")
    case = make_case(institution)[0]
    auth.login(platform_admin)
    client.post(f"/beheer/instellingen/{institution.id}/adv", data={"adv": ""})
    auth.logout()

    page = client.get("/meldpunt/roc-zonder").get_data(as_text=True)

    assert "discriminatie.nl" in page
    assert reloaded(Institution, case.institution_id).adv_id is None


def test_the_platform_admin_still_cannot_read_a_case(client, auth, platform_admin):
    case = make_case()[0]
    auth.login(platform_admin)
    assert client.get(f"/behandelen/zaken/{case.id}").status_code == 404
