"""/api/v1: the same protected tables as the statistics page, as JSON.

Authentication is only `Authorization: Bearer TOKEN` (a monitor's API token);
the browser's session cookie opens nothing here, so no CSRF applies. Rows and columns
carry stable codes; labels come in the language asked for (`lang`), or the monitor's.
Requests are limited per token and per address.
"""

from __future__ import annotations

from hashlib import sha256

from flask import g, jsonify, request
from werkzeug.datastructures import MultiDict

from .. import api_tokens, audit, statistics
from ..extensions import csrf, db, limiter
from ..i18n import STAFF_LANGUAGES
from ..stats import exports
from ..stats.forms import StatisticsForm
from . import bp
from .openapi import document, methods_of

csrf.exempt(bp)

PARAMETERS = (
    "period",
    "year",
    "quarter",
    "granularity",
    "level",
    "dimension",
    "dimension2",
    "lang",
)
# Every table is read from the rollup, but a token is not a license to ask for all of them
# at once: per token, and per address whatever the token.
PER_CLIENT = "120 per minute; 5000 per day"
PER_ADDRESS = "300 per minute"


def _token_key() -> str:
    """The rate-limit key of the token sent (hashed; whether or not it is valid)."""
    sent = (request.headers.get("Authorization") or "").encode()
    return "api:" + sha256(sent).hexdigest()[:32]


def _error(status: int, message: str, **extra):
    response = jsonify({"error": message, **extra})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="stagepact"'
    return response


def method_refused(path: str):
    """405 for a method the OpenAPI document does not list for `path` (below /api/v1),
    with the methods it does list in `Allow`."""
    response = _error(405, "Method not allowed.")
    response.headers["Allow"] = ", ".join(methods_of(path.removeprefix(bp.url_prefix)))
    return response


@bp.before_request
def only_documented_methods():
    """The API answers what its OpenAPI document says and nothing else: Flask's own
    HEAD and OPTIONS answers (200) are not in it, so they are refused like any other
    method (routing refuses the rest; the app's 405 handler comes back here)."""
    if request.method == "GET" or request.method in methods_of(
        request.url_rule.rule.removeprefix(bp.url_prefix)
    ):
        return None
    return method_refused(request.url_rule.rule)


@bp.errorhandler(429)
def too_many(error):
    return _error(429, "Too many requests: wait a minute.")


@bp.route("/openapi.json")
def openapi():
    """The OpenAPI document this API conforms to."""
    return jsonify(document())


@bp.route("/statistics")
@limiter.limit(PER_ADDRESS)
@limiter.limit(PER_CLIENT, key_func=_token_key)
def statistics_table():
    found = api_tokens.user_for(request.headers.get("Authorization"))
    if found is None:
        db.session.rollback()
        return _error(401, "A valid monitor API token is required (Authorization: Bearer TOKEN).")
    g.api_user, token = found
    unknown = sorted(set(request.args) - set(PARAMETERS))
    if unknown:
        db.session.commit()
        return _error(400, "Unknown parameters.", fields={name: ["unknown"] for name in unknown})
    if request.args.get("lang", "nl") not in STAFF_LANGUAGES:
        db.session.commit()
        return _error(400, "Invalid parameters.", fields={"lang": ["nl or en"]})
    published = statistics.publication()
    arguments = MultiDict(request.args)
    arguments.pop("lang", None)
    form = StatisticsForm(arguments, publication=published)
    if not form.validate():
        db.session.commit()
        errors = {
            name: [str(e) for e in field.errors]
            for name, field in form._fields.items()
            if field.errors
        }
        return _error(400, "Invalid parameters.", fields=errors)
    table = statistics.table(form.to_query(), published)
    audit.record(
        "statistics.api_read",
        actor=g.api_user,
        token_id=token.id,
        parameters=form.parameters(),
    )
    db.session.commit()
    return jsonify(exports.as_dict(exports.grid(table), table))
