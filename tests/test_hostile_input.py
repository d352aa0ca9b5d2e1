"""Characters no keyboard types still never give a 500 (PostgreSQL refuses NUL in text)."""

import re

from stagepact.extensions import db
from tests.factories import make_case, make_meldpunt, make_user

NUL = "abc\x00def"


def test_nul_in_the_school_search_is_harmless(client):
    make_meldpunt(name="Abcdef College")
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


def test_odd_inbox_queries_never_give_a_500(client, auth):
    handler = make_user()
    make_case(handler.institution)
    auth.login(handler)

    for query in [
        {"submitted_from": "0001-01-01"},
        {"submitted_to": "9999-12-31"},
        {
            "per_page": "1",
            "endpoint": "x",
            "_external": "1",
            "_anchor": "a",
            "_scheme": "javascript",
        },
        {"page": "99999999999999999999", "per_page": "-5"},
    ]:
        response = client.get("/behandelen/", query_string=query)
        assert response.status_code == 200, query
        # No link or form target takes the parameters up (the language form's `next` field
        # echoes the query as an escaped value; it only ever leads to a path on this site).
        targets = re.findall(r'(?:href|action)="([^"]*)"', response.get_data(as_text=True))
        assert not [t for t in targets if "javascript" in t or "_scheme" in t], query


def test_a_case_id_too_large_for_the_database_is_a_404(client, auth):
    auth.login(make_user())

    assert client.get("/behandelen/zaken/99999999999999999999999").status_code == 404
    assert client.post("/behandelen/zaken/99999999999999999999999/notitie").status_code == 404
