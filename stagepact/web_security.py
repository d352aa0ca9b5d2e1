"""What every response carries, and what every state-changing request must show.

Cross-site request forgery is refused twice over:

1. every form carries a CSRF token tied to the session (Flask-WTF; the student's forms
   check theirs themselves), and the session cookie is `SameSite=Lax`;
2. a POST that a browser says comes from elsewhere is refused before any view runs:
   `Sec-Fetch-Site` other than `same-origin`, or an `Origin` or `Referer` of another
   origin than this site's. A request without these headers (an old browser, a
   privacy tool that strips them) is judged by the token alone.

Flask-WTF's own Referer check over HTTPS (`WTF_CSRF_SSL_STRICT`) is off: it refuses
every POST without a Referer, and the student's pages send none (below), nor do
browsers with referrers turned off.

Referrer policy by audience: the student's pages send `no-referrer`, so that not even
this site learns which page a student came from, and no other site ever does. Staff
pages send `same-origin`: a link to another site still carries nothing, while a form
posted to this site carries a real `Origin`, so that the check above has something to
compare in browsers that send no fetch metadata.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, request
from flask_wtf.csrf import CSRFError

from .i18n import staff_page

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Sec-Fetch-Site values of a request this site's own pages made, or the user made
# directly (typed, bookmarked): never another site's.
OWN_FETCH_SITES = frozenset({"same-origin", "none"})
DEFAULT_PORTS = {"http": 80, "https": 443}

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
HSTS = "max-age=31536000; includeSubDomains"
# The site uses no powerful browser feature: every one is off, for this site and for
# anything it might ever frame.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "bluetooth",
        "camera",
        "display-capture",
        "encrypted-media",
        "fullscreen",
        "geolocation",
        "gyroscope",
        "hid",
        "idle-detection",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "picture-in-picture",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "web-share",
        "xr-spatial-tracking",
    )
)


def init_app(app: Flask) -> None:
    app.before_request(refuse_cross_site_requests)
    app.after_request(security_headers)


def _origin(url: str | None) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a URL, or None for anything that is not a web origin."""
    try:
        parts = urlsplit(url or "")
        scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:  # a port that is not a number
        return None
    if scheme not in DEFAULT_PORTS or not host:
        return None
    return scheme, host, port


def own_origins() -> set[tuple[str, str, int]]:
    """This site as the request reached it, and as PUBLIC_BASE_URL names it (the same
    site behind a proxy that does not pass on the scheme)."""
    origins = {_origin(request.host_url), _origin(current_app.config.get("PUBLIC_BASE_URL"))}
    return origins - {None}


def cross_site_reason() -> str | None:
    """Why this request comes from another site, or None when nothing says it does."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site.lower() not in OWN_FETCH_SITES:
        return f"Sec-Fetch-Site: {fetch_site[:20]}"
    origins = own_origins()
    origin = request.headers.get("Origin")
    # "null" is the opaque origin of a page served with Referrer-Policy: no-referrer (the
    # student's pages); another site can send it too, which fetch metadata then tells.
    if origin is not None and origin != "null" and _origin(origin) not in origins:
        return "Origin of another site"
    referrer = request.headers.get("Referer")
    if referrer and _origin(referrer) not in origins:
        return "Referer of another site"
    return None


def refuse_cross_site_requests() -> None:
    if request.method in SAFE_METHODS:
        return
    reason = cross_site_reason()
    if reason is not None:
        raise CSRFError(f"Refused a request from another site ({reason}).")


def security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Permissions-Policy"] = PERMISSIONS_POLICY
    if request.endpoint == "static":
        response.headers["Referrer-Policy"] = "no-referrer"
    else:
        response.headers["Referrer-Policy"] = "same-origin" if staff_page() else "no-referrer"
        # Pages may hold personal data: never keep them in a cache.
        response.headers["Cache-Control"] = "no-store"
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        response.headers["Strict-Transport-Security"] = HSTS
    return response
