"""The platform admin's pages. Views parse a form, call `stagepact.admin`, commit once
and redirect.

The platform admin maintains the register of ADVs and which one each institution
points its students to; none of this touches a case.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import selectinload

from .. import admin, jobs, outbox, scoping
from ..extensions import db
from ..models import Adv, Institution
from ..vocab import Role
from . import bp
from .forms import AdvForm, DefaultAdvForm


@bp.before_request
def require_platform_admin():
    """These pages are for platform admins only; to anyone else they do not exist."""
    if current_user.role != Role.PLATFORM_ADMIN:
        abort(404)


@bp.route("/")
def index():
    """The overview: the ADV register, the institutions, the scheduled jobs and the mail
    that could not be delivered."""
    adv_count = db.session.scalar(sa.select(sa.func.count()).select_from(Adv))
    institution_count = db.session.scalar(sa.select(sa.func.count()).select_from(Institution))
    without_adv = db.session.scalar(
        sa.select(sa.func.count()).select_from(Institution).where(Institution.adv_id.is_(None))
    )
    given_up_total, given_up = outbox.given_up()
    return render_template(
        "platform/index.html",
        adv_count=adv_count,
        institution_count=institution_count,
        without_adv=without_adv,
        jobs=jobs.states(),
        given_up_total=given_up_total,
        given_up=given_up,
    )


@bp.route("/adv")
def adv_list():
    """The register of ADVs by name, with how many institutions point to each."""
    return render_template("platform/adv_list.html", rows=admin.advs_with_usage())


def _adv_page(form: AdvForm, adv: Adv | None, status: int = 200):
    institutions = []
    if adv is not None:
        institutions = db.session.scalars(
            sa.select(Institution).where(Institution.adv_id == adv.id).order_by(Institution.name)
        ).all()
    return render_template(
        "platform/adv_form.html", form=form, adv=adv, institutions=institutions
    ), status


def _save_adv(adv: Adv | None):
    form = AdvForm(obj=adv)
    if not form.validate_on_submit():
        return _adv_page(form, adv, 422 if form.is_submitted() else 200)
    is_new = adv is None
    adv, changed = admin.save_adv(adv, actor=current_user, **form.values())
    db.session.commit()
    if is_new:
        flash(_("ADV toegevoegd: %(name)s.", name=adv.name), "success")
    elif changed:
        flash(_("Wijzigingen opgeslagen: %(name)s.", name=adv.name), "success")
    else:
        flash(_("Er was niets gewijzigd."), "info")
    return redirect(url_for("platform.adv_list"))


@bp.route("/adv/nieuw", methods=["GET", "POST"])
def adv_new():
    """Add an ADV to the register."""
    return _save_adv(None)


@bp.route("/adv/<id:adv_id>", methods=["GET", "POST"])
def adv_edit(adv_id: int):
    """Change an ADV's name, region, municipalities or contact details."""
    return _save_adv(db.get_or_404(Adv, adv_id))


@bp.route("/instellingen")
def institutions():
    """Every institution with the ADV its students are pointed to, and whether its
    meldpunt is open (with the reason when not)."""
    rows = db.session.scalars(
        sa.select(Institution)
        .options(selectinload(Institution.adv))
        .order_by(sa.func.lower(Institution.name), Institution.id)
    ).all()
    counts = scoping.handler_counts()
    closed = {row.id: admin.closed_reason(counts.get(row.id)) for row in rows}
    return render_template("platform/institutions.html", institutions=rows, closed=closed)


@bp.route("/instellingen/<id:institution_id>/adv", methods=["GET", "POST"])
def institution_adv(institution_id: int):
    """Choose an institution's default ADV from the register, or none."""
    institution = db.get_or_404(Institution, institution_id)
    form = DefaultAdvForm(admin.advs_in_order(), adv=str(institution.adv_id or ""))
    if not form.validate_on_submit():
        status = 422 if form.is_submitted() else 200
        return render_template(
            "platform/institution_adv.html", form=form, institution=institution
        ), status
    chosen_id = form.chosen.id if form.chosen is not None else None
    if admin.change_settings(institution, actor=current_user, adv_id=chosen_id):
        db.session.commit()
        if form.chosen is None:
            message = _(
                "%(institution)s heeft nu geen standaard-ADV.", institution=institution.name
            )
        else:
            message = _(
                "De standaard-ADV van %(institution)s is nu %(adv)s.",
                institution=institution.name,
                adv=form.chosen.name,
            )
        flash(message, "success")
    else:
        flash(_("Er was niets gewijzigd."), "info")
    return redirect(url_for("platform.institutions"))
