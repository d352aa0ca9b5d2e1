"""Unbound extensions, bound to the app in `create_app`."""

import hashlib
import hmac
import ipaddress

from flask import current_app, request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_mail import Mail
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints, so that Alembic can drop and alter them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def client_address() -> str:
    """The visitor's address as every limit counts it: an IPv4 address, or an IPv6 /64.

    One IPv6 subscriber or school gets a whole /64, and can pick a fresh address in it
    for every request; counting per address would give each request a fresh budget.
    The address is the proxy's X-Forwarded-For entry only with TRUSTED_PROXIES set
    (ProxyFix in `create_app`).
    """
    raw = request.remote_addr or ""
    try:
        address = ipaddress.ip_address(raw.split("%", 1)[0])
    except ValueError:
        return raw or "unknown"
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def keyed_digest(kind: str, value: str) -> str:
    """A keyed hash of a secret-ish value (a typed receipt code, an address, an email) for
    a limit's key or a stored counter: the value itself is never stored or logged."""
    key = current_app.config["SECRET_KEY"].encode("utf-8")
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
mail = Mail()
babel = Babel()
csrf = CSRFProtect()
limiter = Limiter(key_func=client_address)


@limiter.request_filter
def limits_off() -> bool:
    """Each app's own RATE_LIMITS_ON decides (the limiter object is shared by all apps);
    limits counted by hand (`attachments.check_upload_limits`) ask here too."""
    return not current_app.config.get("RATE_LIMITS_ON", True)
