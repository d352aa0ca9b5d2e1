"""A handler links a report to a company from the register, or adds it as unverified."""

import sqlalchemy as sa

from stagepact.extensions import db
from stagepact.models import AuditEvent, Company
from tests.factories import make_case, make_company, make_user
from tests.helpers import count, reloaded


def _case_and_handler():
    handler = make_user()
    case, _ = make_case(handler.institution, company_text="de bakker in Zwolle")
    db.session.commit()
    return case, handler


def test_handler_searches_the_register_and_links_the_company(client, auth):
    case, handler = _case_and_handler()
    korf = make_company(name="Bakkerij De Korf", city="Zwolle", kvk="12345678")
    db.session.commit()
    auth.login(handler)

    page = client.get(f"/behandelen/zaken/{case.id}", query_string={"bedrijf": "korf"})
    html = page.get_data(as_text=True)
    assert "Bakkerij De Korf, Zwolle (12345678)" in html
    assert "De student schreef: de bakker in Zwolle" in html

    response = client.post(f"/behandelen/zaken/{case.id}/leerbedrijf", data={"company_id": korf.id})

    assert response.status_code == 302
    assert reloaded(case).company_id == korf.id
    event = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "case.company_linked")
    )
    assert f'"to_company": {korf.id}' in event.details


def test_a_company_the_register_lacks_is_added_unverified(client, auth):
    case, handler = _case_and_handler()
    auth.login(handler)

    response = client.post(
        f"/behandelen/zaken/{case.id}/leerbedrijf",
        data={"new_name": "Bakkerij Om De Hoek", "new_city": "Zwolle", "new_kvk": "8765 4321"},
    )

    assert response.status_code == 302
    company = reloaded(case).company
    assert (company.name, company.kvk, company.verified) == (
        "Bakkerij Om De Hoek",
        "87654321",
        False,
    )


def test_adding_a_kvk_number_already_in_the_register_links_that_company(client, auth):
    case, handler = _case_and_handler()
    known = make_company(name="Bakkerij De Korf", kvk="12345678")
    db.session.commit()
    auth.login(handler)

    client.post(
        f"/behandelen/zaken/{case.id}/leerbedrijf",
        data={"new_name": "De Korf", "new_city": "Zwolle", "new_kvk": "12345678"},
    )

    assert reloaded(case).company_id == known.id
    assert count(Company) == 1


def test_bad_company_input_is_explained_and_kept(client, auth):
    case, handler = _case_and_handler()
    auth.login(handler)

    for data, message in [
        ({"company_id": "999999"}, "Zoek het bedrijf opnieuw"),
        ({"new_name": "", "new_city": "Zwolle"}, "vul de naam in"),
        ({"new_name": "Garage Typo", "new_kvk": "1234"}, "Een KvK-nummer heeft 8 cijfers."),
    ]:
        response = client.post(f"/behandelen/zaken/{case.id}/leerbedrijf", data=data)
        html = response.get_data(as_text=True)
        assert response.status_code == 422, data
        assert message in html
        if data.get("new_name"):
            assert data["new_name"] in html
    assert reloaded(case).company_id is None
    assert count(Company) == 0


def test_search_results_are_not_offered_on_a_closed_case(client, auth):
    case, handler = _case_and_handler()
    make_company(name="Bakkerij De Korf")
    from stagepact import workflow

    workflow.close(case, handler, "out_of_scope", "Buiten het meldpunt.")
    db.session.commit()
    auth.login(handler)

    html = client.get(f"/behandelen/zaken/{case.id}", query_string={"bedrijf": "korf"}).get_data(
        as_text=True
    )

    assert "Bakkerij De Korf" not in html
