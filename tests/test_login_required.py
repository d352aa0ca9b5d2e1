"""Every route needs a login unless `auth.PUBLIC_ENDPOINTS` names it: one list, checked
once before each request. A route added without thinking about access is closed."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from config import TestConfig
from stagepact import create_app
from stagepact.auth import PUBLIC_ENDPOINTS


def _staff_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        values = {
            name: sorted(getattr(rule._converters[name], "items", None) or [1])[0]
            for name in rule.arguments
        }
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, rule.build(values, append_unknown=False)[1]


def test_every_public_endpoint_exists(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert PUBLIC_ENDPOINTS <= endpoints, "a name on the public list matches no route"
    assert len(endpoints - PUBLIC_ENDPOINTS) > 40


def test_every_other_endpoint_sends_a_visitor_to_the_login_page(app, client):
    refused = {}
    for endpoint, method, url in _staff_rules(app):
        response = client.open(url, method=method)
        location = urlsplit(response.headers.get("Location", ""))
        if response.status_code != 302 or location.path != "/inloggen":
            refused[(endpoint, method)] = response.status_code
    assert refused == {}


def test_a_new_route_is_closed_until_it_is_named_public(app):
    fresh = create_app(
        TestConfig, {"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]}
    )

    @fresh.route("/nieuw-en-vergeten")
    def forgotten():
        return "geheim"

    response = fresh.test_client().get("/nieuw-en-vergeten")

    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/inloggen"
    assert b"geheim" not in response.data


@pytest.mark.parametrize("url", ["/", "/volgen", "/inloggen", "/api/v1/openapi.json"])
def test_the_public_pages_open_without_a_login(client, url):
    assert client.get(url).status_code == 200
