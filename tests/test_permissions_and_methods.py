"""Informational findings of the assessment: a Permissions-Policy on every response, and
an API that answers HEAD and OPTIONS the way its OpenAPI document says (405 with Allow)."""

from __future__ import annotations

import pytest

from stagepact.api.openapi import document
from stagepact.web_security import PERMISSIONS_POLICY

FEATURES_OFF = ("camera", "microphone", "geolocation", "payment", "usb", "display-capture")


def _policy(response) -> dict[str, str]:
    entries = [part.strip() for part in response.headers["Permissions-Policy"].split(",")]
    return dict(entry.split("=", 1) for entry in entries)


@pytest.mark.parametrize(
    "method, url, status",
    [
        ("get", "/", 200),
        ("get", "/volgen", 200),
        ("get", "/inloggen", 200),
        ("get", "/niet-bestaand", 404),
        ("get", "/static/css/main.css", 200),
        ("post", "/volgen", 422),
        ("get", "/api/v1/openapi.json", 200),
        ("get", "/api/v1/statistics", 401),
        ("options", "/api/v1/statistics", 405),
    ],
)
def test_every_response_turns_every_powerful_browser_feature_off(client, method, url, status):
    response = getattr(client, method)(url)

    assert response.status_code == status
    policy = _policy(response)
    assert all(policy.get(feature) == "()" for feature in FEATURES_OFF)
    assert set(policy.values()) == {"()"}  # nothing is allowed, to this site or any other
    assert response.headers["Permissions-Policy"] == PERMISSIONS_POLICY


API_PATHS = sorted(document()["paths"])


def test_the_openapi_document_lists_get_alone_for_every_path():
    assert API_PATHS == ["/openapi.json", "/statistics"]
    assert {path: sorted(item) for path, item in document()["paths"].items()} == {
        path: ["get"] for path in API_PATHS
    }


@pytest.mark.parametrize("path", API_PATHS)
@pytest.mark.parametrize("method", ["options", "head"])
def test_the_api_answers_head_and_options_with_405_and_allow(client, path, method):
    response = getattr(client, method)(f"/api/v1{path}")

    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"
    if method == "options":
        assert response.get_json() == {"error": "Method not allowed."}
    else:
        assert response.get_data() == b""  # HEAD never has a body


@pytest.mark.parametrize("path", API_PATHS)
@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
def test_the_api_refuses_every_other_method_with_json_and_allow(client, path, method):
    assert client.get(f"/api/v1{path}").status_code in (200, 401)

    refused = getattr(client, method)(f"/api/v1{path}")

    assert refused.status_code == 405
    assert refused.headers["Allow"] == "GET"
    assert refused.get_json() == {"error": "Method not allowed."}


def test_pages_outside_the_api_keep_head_and_say_what_they_allow(client):
    """Browsers may HEAD a page; a refused method is told which ones the page answers."""
    assert client.head("/").status_code == 200
    refused = client.get("/volgen/stoppen")
    assert refused.status_code == 405
    assert refused.headers["Allow"] == "OPTIONS, POST"
