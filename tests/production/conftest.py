"""The production tests run the app in other processes: no test app context here."""

import pytest


@pytest.fixture(autouse=True)
def _app_context():
    yield
