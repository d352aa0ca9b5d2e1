"""SBB matches companies that meldpunten added as unverified: verify, or merge into the register."""

from __future__ import annotations

import io
import json

import sqlalchemy as sa

from stagepact import companies, workflow
from stagepact.extensions import db
from stagepact.models import AuditEvent, Case, Company
from stagepact.vocab import Role
from tests.factories import make_case, make_company, make_institution, make_user


def _unverified_with_case():
    institution = make_institution()
    handler = make_user(Role.HANDLER, institution)
    case = make_case(institution, company_text="Bakkerij Korenschoof, Zeist")[0]
    added = companies.add_unverified("Bakkerij Korenschoof", "Zeist", None, handler)
    workflow.link_company(case, handler, added)
    db.session.commit()
    return case, added


def test_sbb_merges_an_unverified_company_into_the_register_and_its_reports_follow(client, auth):
    case, added = _unverified_with_case()
    real = make_company(name="Bakkerij De Korenschoof BV", city="Zeist")
    auth.login(make_user(Role.SBB_REVIEWER))

    page = client.get(f"/sbb/bedrijven/{added.id}", query_string={"doel": "korenschoof"})
    assert page.status_code == 200
    assert f'value="{real.id}"' in page.get_data(as_text=True)

    done = client.post(f"/sbb/bedrijven/{added.id}/samenvoegen", data={"target_id": real.id})

    assert done.status_code == 302 and done.headers["Location"].endswith(
        f"/sbb/bedrijven/{real.id}"
    )
    assert db.session.get(Company, added.id) is None
    assert db.session.get(Case, case.id).company_id == real.id
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "company.merged"))
    assert json.loads(event.details)["merged_company_id"] == added.id
    # The case's own trail says that its company changed, and its timeline shows it.
    [per_case] = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "case.company_merged")
    ).all()
    assert (per_case.case_id, per_case.institution_id) == (case.id, case.institution_id)
    assert json.loads(per_case.details) == {"company_id": real.id, "merged_company_id": added.id}
    auth.logout()
    auth.login(make_user(Role.HANDLER, case.institution))
    response = client.get(f"/behandelen/zaken/{case.id}")
    timeline = response.get_data(as_text=True)
    assert response.status_code == 200, timeline[-3000:]
    assert "Leerbedrijf door SBB gekoppeld aan het register" in timeline


def test_merging_needs_a_verified_target_other_than_itself(client, auth):
    case, added = _unverified_with_case()
    other_unverified = companies.add_unverified("Nog een bakker", "Zeist", None, "system")
    db.session.commit()
    auth.login(make_user(Role.SBB_REVIEWER))

    for target in (added.id, other_unverified.id, 2**31 - 1, "x"):
        refused = client.post(f"/sbb/bedrijven/{added.id}/samenvoegen", data={"target_id": target})
        assert refused.status_code == 422
        assert "Kies het bedrijf uit het register" in refused.get_data(as_text=True)
    assert db.session.get(Case, case.id).company_id == added.id


def test_a_verified_company_is_not_merged_away(client, auth):
    real = make_company()
    other = make_company()
    auth.login(make_user(Role.SBB_REVIEWER))

    refused = client.post(f"/sbb/bedrijven/{real.id}/samenvoegen", data={"target_id": other.id})

    assert refused.status_code == 422
    assert db.session.get(Company, real.id) is not None


def test_sbb_verifies_an_unverified_company(client, auth):
    _case, added = _unverified_with_case()
    auth.login(make_user(Role.SBB_REVIEWER))

    assert client.post(f"/sbb/bedrijven/{added.id}/verifieren").status_code == 302
    assert db.session.get(Company, added.id).verified
    assert client.post(f"/sbb/bedrijven/{added.id}/verifieren").status_code == 409


def test_only_sbb_may_verify_or_merge(client, auth):
    _case, added = _unverified_with_case()
    real = make_company()
    for role in (Role.HANDLER, Role.INSTITUTION_ADMIN, Role.MONITOR, Role.PLATFORM_ADMIN):
        institution = make_institution() if role in (Role.HANDLER, Role.INSTITUTION_ADMIN) else None
        auth.login(make_user(role, institution))
        assert client.post(f"/sbb/bedrijven/{added.id}/verifieren").status_code == 404
        merge = client.post(f"/sbb/bedrijven/{added.id}/samenvoegen", data={"target_id": real.id})
        assert merge.status_code == 404
        auth.logout()
    assert not db.session.get(Company, added.id).verified


def test_the_register_import_confirms_a_company_a_handler_added_by_its_kvk_number():
    handler = make_user(Role.HANDLER, make_institution())
    added = companies.add_unverified("Kapsalon Knip", "Delft", "87654321", handler)
    db.session.commit()

    result = companies.import_register(
        io.StringIO("kvk,naam,plaats\n87654321,Kapsalon Knip & Kleur,Delft\n")
    )
    db.session.commit()

    assert result.updated == 1
    refreshed = db.session.get(Company, added.id)
    assert refreshed.verified and refreshed.name == "Kapsalon Knip & Kleur"
