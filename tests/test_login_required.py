"""Every route needs a login unless `auth.PUBLIC_ENDPOINTS` names it: one list, checked
once before each request. A route added without thinking about access is closed."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from config import TestConfig
from stagepact import create_app
from stagepact.auth import PUBLIC_ENDPOINTS
from tests.helpers import choices, walk_routes


def _staff_routes(app):
    """Every route but the public ones, each argument 1 (or each of its fixed choices)."""
    names = {n for r in app.url_map.iter_rules() for n in r.arguments if not choices(r, n)}
    staff = lambda rule: rule.endpoint not in PUBLIC_ENDPOINTS  # noqa: E731
    return walk_routes(app, dict.fromkeys(names, 1), where=staff)


def test_every_public_endpoint_exists(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert PUBLIC_ENDPOINTS <= endpoints, "a name on the public list matches no route"
    assert len(endpoints - PUBLIC_ENDPOINTS) > 40


def test_every_other_endpoint_sends_a_visitor_to_the_login_page(app, client):
    refused = {}
    for route in _staff_routes(app):
        endpoint, method = route.endpoint, route.method
        response = client.open(route.url, method=method)
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
