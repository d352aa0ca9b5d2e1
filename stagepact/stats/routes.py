"""Statistics: monitors count across the sector; an institution sees its own meldpunt.

Monitors never reach a case: every number here comes from
`stagepact.statistics`, suppressed by `stagepact.disclosure`. Every view and
every export is an audit event. Other roles find nothing here (404).
"""

from __future__ import annotations

from flask import Response, abort, render_template, request
from flask_login import current_user, login_required

from .. import audit, statistics
from ..extensions import db
from ..vocab import Role
from . import bp, charts, exports
from .forms import StatisticsForm

EXPORT_TYPES = {
    "csv": "text/csv",  # Werkzeug adds the charset
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}
INSTITUTION_ROLES = (Role.HANDLER, Role.INSTITUTION_ADMIN)


@bp.before_request
@login_required
def require_reader():
    if current_user.role not in (Role.MONITOR, *INSTITUTION_ROLES):
        abort(404)


def _record(action: str, form: StatisticsForm, **details) -> None:
    audit.record(
        action,
        institution_id=current_user.institution_id,
        parameters=form.parameters(),
        **details,
    )
    db.session.commit()


@bp.route("/")
def index():
    """The statistics page: choose period, level and dimensions; a table and a chart."""
    if current_user.role in INSTITUTION_ROLES:
        return _own_meldpunt()
    form = StatisticsForm(request.args)
    if request.args and not form.validate():
        return render_template("stats/index.html", form=form, table=None), 422
    form.validate()
    table = statistics.table(form.to_query())
    _record("statistics.viewed", form)
    return render_template(
        "stats/index.html",
        form=form,
        table=table,
        grid=exports.grid(table),
        chart=charts.bars(table),
        parameters=form.parameters(),
    )


def _own_meldpunt():
    """An institution's own figures beside the rest of the sector (the latter suppressed)."""
    form = StatisticsForm(request.args, allow_level=False)
    if request.args and not form.validate():
        return render_template("stats/own.html", form=form, own=None, rest=None), 422
    form.validate()
    institution_id = current_user.institution_id
    base = form.to_query()
    own = statistics.table(
        statistics.Query(base.period, "sector", base.dimensions, institution_id=institution_id),
        protect=False,
    )
    rest = statistics.table(
        statistics.Query(base.period, "sector", base.dimensions, excluding=institution_id)
    )
    _record("statistics.viewed", form, own_institution=True)
    return render_template(
        "stats/own.html",
        form=form,
        own=exports.grid(own),
        rest=exports.grid(rest),
        own_table=own,
        rest_table=rest,
    )


@bp.route("/export.<any(csv, xlsx, json):kind>")
def export(kind: str):
    """The table the page shows, as a file named after its content and period."""
    if current_user.role != Role.MONITOR:
        abort(404)
    form = StatisticsForm(request.args)
    if not form.validate():
        abort(400)
    table = statistics.table(form.to_query())
    data = exports.grid(table)
    if kind == "csv":
        body = exports.to_csv(data)
    elif kind == "xlsx":
        body = exports.to_xlsx(data)
    else:
        body = exports.to_json(data, table.query)
    _record("statistics.exported", form, format=kind)
    response = Response(body, mimetype=EXPORT_TYPES[kind])
    name = exports.filename(table, kind)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
