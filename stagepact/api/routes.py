"""/api/v1: the same suppressed tables as the statistics page, as JSON.

Authentication is only `Authorization: Bearer TOKEN` (a monitor's API token);
the browser's session cookie opens nothing here, so no CSRF applies.
"""

from __future__ import annotations

from flask import g, jsonify, request
from werkzeug.datastructures import MultiDict

from .. import api_tokens, audit, statistics
from ..extensions import csrf, db
from ..stats import exports
from ..stats.forms import StatisticsForm
from . import bp
from .openapi import document

csrf.exempt(bp)

PARAMETERS = (
    "period",
    "year",
    "month",
    "quarter",
    "date_from",
    "date_to",
    "level",
    "dimension",
    "dimension2",
)


def _error(status: int, message: str, **extra):
    response = jsonify({"error": message, **extra})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="stagepact"'
    return response


@bp.route("/openapi.json")
def openapi():
    """The OpenAPI document this API conforms to."""
    return jsonify(document())


@bp.route("/statistics")
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
    form = StatisticsForm(MultiDict(request.args))
    if not form.validate():
        db.session.commit()
        errors = {
            name: [str(e) for e in field.errors]
            for name, field in form._fields.items()
            if field.errors
        }
        return _error(400, "Invalid parameters.", fields=errors)
    table = statistics.table(form.to_query())
    audit.record(
        "statistics.api",
        actor=g.api_user,
        token_id=token.id,
        parameters=form.parameters(),
    )
    db.session.commit()
    return jsonify(exports.as_dict(exports.grid(table), table.query))
