"""Production refuses the development secrets; everything deployment-specific comes from the environment."""

import pytest

import config
from stagepact import create_app, preflight


def test_production_refuses_to_start_with_development_secrets():
    class Unconfigured(config.ProductionConfig):
        # As on a machine where none of these are in the environment.
        SECRET_KEY = config.DEV_SECRET_KEY
        ENCRYPTION_KEYS = [config.DEV_ENCRYPTION_KEY]
        RECEIPT_PEPPER = config.DEV_RECEIPT_PEPPER
        SQLALCHEMY_DATABASE_URI = None
        MAIL_SERVER = None
        RATELIMIT_STORAGE_URI = "memory://"
        PUBLIC_BASE_URL = "http://127.0.0.1:5000"
        TRUSTED_PROXIES = None

    with pytest.raises(preflight.Refused) as refused:
        create_app(Unconfigured)

    assert refused.value.code.startswith("Het meldpunt start niet: zet voor productie")
    assert "\n" not in refused.value.code
    names = (
        "SECRET_KEY",
        "ENCRYPTION_KEYS",
        "RECEIPT_PEPPER",
        "DATABASE_URL",
        "MAIL_SERVER",
        "REDIS_URL",
        "PUBLIC_BASE_URL",
        "TRUSTED_PROXIES",
    )
    for name in names:
        assert name in str(refused.value)


def test_production_starts_with_its_own_secrets():
    from cryptography.fernet import Fernet

    class Configured(config.ProductionConfig):
        SECRET_KEY = "a-real-secret-from-the-environment"  # noqa: S105
        ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
        RECEIPT_PEPPER = "a-real-pepper-from-the-environment"
        SQLALCHEMY_DATABASE_URI = "postgresql+psycopg://stagepact@db.example.org/stagepact"
        CHECK_DATABASE_AT_START = False  # tests/test_preflight.py checks the database
        MAIL_SERVER = "smtp.example.org"
        RATELIMIT_STORAGE_URI = "redis://127.0.0.1:6379/0"
        PUBLIC_BASE_URL = "https://meldpunt.example.org"
        TRUSTED_PROXIES = 1

    app = create_app(Configured)

    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_NAME"] == "__Host-session"


def test_an_unknown_environment_name_is_refused(monkeypatch):
    monkeypatch.setenv("STAGEPACT_ENV", "staging")

    with pytest.raises(config.SettingError, match="STAGEPACT_ENV"):
        config.config_from_env()
    with pytest.raises(preflight.Refused, match="STAGEPACT_ENV moet development, test of"):
        create_app()


def test_trusted_proxies_zero_is_an_explicit_choice_and_unset_is_not(monkeypatch):
    monkeypatch.setenv("TRUSTED_PROXIES", "0")
    assert config._env_optional_int("TRUSTED_PROXIES") == 0  # gunicorn with TLS, no proxy
    monkeypatch.delenv("TRUSTED_PROXIES")
    assert config._env_optional_int("TRUSTED_PROXIES") is None  # refused in production
    monkeypatch.setenv("TRUSTED_PROXIES", " ")
    assert config._env_optional_int("TRUSTED_PROXIES") is None
