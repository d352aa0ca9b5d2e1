"""Statistics: monitors count across the sector; an institution sees its own meldpunt.

Monitors never reach a case: every number here comes from
`stagepact.statistics`, protected by `stagepact.disclosure`. Every view and
every export is an audit event. Other roles find nothing here (404).
"""

from __future__ import annotations

from flask import Response, abort, render_template, request
from flask_login import current_user

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
    """The statistics page: choose a closed period (or a trend), level and dimensions; a
    table and a chart."""
    if current_user.role in INSTITUTION_ROLES:
        return _own_meldpunt()
    published = statistics.publication()
    form = StatisticsForm(request.args, publication=published)
    if not form.validate():
        return _page(form, published, None), 422 if request.args else 200
    table = statistics.table(form.to_query(), published)
    _record("statistics.viewed", form)
    return _page(form, published, table)


def _page(form: StatisticsForm, published, table):
    grid = exports.grid(table) if table else None
    return render_template(
        "stats/index.html",
        form=form,
        published=published,
        table=table,
        grid=grid,
        chart=charts.bars(table) if table else None,
        parameters=form.parameters(),
    )


def _own_meldpunt():
    """An institution's own figures beside the rest of the sector (the latter protected)."""
    published = statistics.publication()
    form = StatisticsForm(request.args, publication=published, allow_level=False)
    if not form.validate():
        page = render_template("stats/own.html", form=form, published=published, own=None)
        return page, 422 if request.args else 200
    institution_id = current_user.institution_id
    own = statistics.own_table(form.to_query(), institution_id)
    rest = statistics.table(form.to_query(excluding=institution_id), published)
    _record("statistics.viewed", form, own_institution=True)
    return render_template(
        "stats/own.html",
        form=form,
        published=published,
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
    published = statistics.publication()
    form = StatisticsForm(request.args, publication=published)
    if not form.validate():
        abort(400)
    table = statistics.table(form.to_query(), published)
    data = exports.grid(table)
    if kind == "csv":
        body = exports.to_csv(data)
    elif kind == "xlsx":
        body = exports.to_xlsx(data)
    else:
        body = exports.to_json(data, table)
    _record("statistics.exported", form, format=kind)
    response = Response(body, mimetype=EXPORT_TYPES[kind])
    name = exports.filename(table, kind)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
