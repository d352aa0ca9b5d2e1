"""An institution's colour on its meldpunt pages, only where white text stays readable."""

from __future__ import annotations

import pytest

from stagepact import colours
from stagepact.extensions import db
from stagepact.vocab import Role
from tests.factories import make_adv, make_institution, make_user


@pytest.mark.parametrize(
    ("colour", "shown"),
    [
        ("#7A1F5C", "#7a1f5c"),
        ("#FFFF00", colours.DEFAULT),
        ("red", colours.DEFAULT),
        (None, colours.DEFAULT),
    ],
)
def test_the_meldpunt_pages_use_the_colour_only_when_white_text_stays_readable(
    client, colour, shown
):
    institution = make_institution(colour=colour or "#154273")
    if colour is None:
        institution.colour = ""
    db.session.commit()

    css = client.get(f"/meldpunt/{institution.slug}/huisstijl.css")

    assert css.status_code == 200 and css.mimetype == "text/css"
    assert f"background: {shown};" in css.get_data(as_text=True)
    page = client.get(f"/meldpunt/{institution.slug}").get_data(as_text=True)
    assert f'href="/meldpunt/{institution.slug}/huisstijl.css"' in page
    assert "style=" not in page  # the colour never goes inline (strict CSP)


def test_an_unknown_meldpunt_has_no_house_style(client):
    assert client.get("/meldpunt/bestaat-niet/huisstijl.css").status_code == 404


def test_the_contrast_rule_is_wcag_aa():
    assert colours.contrast_with_white("#154273") > 10
    assert colours.readable("#767676")  # 4.54:1, the lightest grey that passes
    assert not colours.readable("#777777")  # 4.48:1


def _settings(**changes) -> dict:
    return {
        "ack_working_days": "5",
        "feedback_months": "3",
        "overdue_repeat_days": "2",
        "overdue_admin_days": "5",
        "retention_months": "24",
        "require_2fa": "y",
        "colour": "#154273",
        **changes,
    }


def test_an_institution_admin_sets_a_readable_colour(client, auth):
    institution = make_institution()
    auth.login(make_user(Role.INSTITUTION_ADMIN, institution))

    refused = client.post("/organisatie/instelling", data=_settings(colour="#f0e68c"))
    assert refused.status_code == 422
    assert "donkerdere kleur" in refused.get_data(as_text=True)

    saved = client.post("/organisatie/instelling", data=_settings(colour="#005A3C"))
    assert saved.status_code == 302
    db.session.expire_all()
    assert db.session.get(type(institution), institution.id).colour == "#005a3c"


def test_the_settings_page_and_the_platform_admin_change_settings_with_one_event(client, auth):
    """One path changes an institution's settings, its default ADV included, from both
    pages: one `institution.settings_changed` event naming the fields (never the values,
    apart from the ADV's id), none when nothing changed."""
    import json

    import sqlalchemy as sa

    from stagepact.models import AuditEvent

    institution = make_institution(ack_working_days=5, feedback_months=3)
    other_adv = make_adv(name="ADV Anders")
    admin = make_user(Role.INSTITUTION_ADMIN, institution)
    previous_adv = institution.adv_id
    auth.login(admin)

    def events():
        return db.session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.action == "institution.settings_changed")
            .order_by(AuditEvent.id)
        ).all()

    unchanged = _settings(
        adv_id=str(previous_adv), retention_months=str(institution.retention_months)
    )
    assert client.post("/organisatie/instelling", data=unchanged).status_code == 302
    assert events() == []

    changed = {**unchanged, "ack_working_days": "3", "adv_id": str(other_adv.id)}
    assert client.post("/organisatie/instelling", data=changed).status_code == 302

    [event] = events()
    assert event.institution_id == institution.id and event.actor_id == admin.id
    assert json.loads(event.details) == {
        "fields": ["ack_working_days", "adv_id"],
        "adv_id": other_adv.id,
        "previous_adv_id": previous_adv,
    }


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("overdue_repeat_days", "-1", "Kies tussen 1 en 10 werkdagen."),
        ("overdue_repeat_days", "11", "Kies tussen 1 en 10 werkdagen."),
        ("overdue_repeat_days", "", "Vul een aantal werkdagen in."),
        ("overdue_admin_days", "31", "Kies tussen 1 en 30 werkdagen."),
        ("overdue_admin_days", "vijf", "Vul een aantal werkdagen in."),
    ],
)
def test_the_overdue_settings_refuse_bad_values_beside_the_field(
    client, auth, field, value, message
):
    from tests.helpers import field_error

    institution = make_institution()
    auth.login(make_user(Role.INSTITUTION_ADMIN, institution))

    response = client.post("/organisatie/instelling", data=_settings(**{field: value}))

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert field_error(page, field) == message
    db.session.expire_all()
    assert getattr(db.session.get(type(institution), institution.id), field) in (2, 5)


def test_an_institution_admin_sets_how_overdue_cases_are_followed_up(client, auth):
    institution = make_institution()
    auth.login(make_user(Role.INSTITUTION_ADMIN, institution))

    changes = {"overdue_repeat_days": "3", "overdue_admin_days": "8"}
    response = client.post("/organisatie/instelling", data=_settings(**changes))

    assert response.status_code == 302
    db.session.expire_all()
    saved = db.session.get(type(institution), institution.id)
    assert (saved.overdue_repeat_days, saved.overdue_admin_days) == (3, 8)
