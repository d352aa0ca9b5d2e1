"""Characters no keyboard types still never give a 500 (PostgreSQL refuses NUL in text)."""

from stagepact.extensions import db
from tests.factories import make_case, make_institution, make_user

NUL = "abc\x00def"


def test_nul_in_the_school_search_is_harmless(client):
    make_institution(name="Abcdef College")
    db.session.commit()

    response = client.get("/", query_string={"q": NUL})

    assert response.status_code == 200
    assert "Abcdef College" in response.get_data(as_text=True)


def test_nul_in_the_inbox_filters_and_login_is_harmless(client, auth):
    handler = make_user()
    make_case(handler.institution)
    assert client.post("/inloggen", data={"email": NUL, "password": NUL}).status_code == 401
    auth.login(handler)

    response = client.get("/behandelen/", query_string={"number": NUL, "status": NUL})

    assert response.status_code == 200


def test_nul_in_a_receipt_code_gets_the_generic_message(client):
    response = client.post("/volgen", data={"code": "1234\x005678"})

    assert response.status_code == 422
    assert "Met deze code kunnen we geen melding openen" in response.get_data(as_text=True)
