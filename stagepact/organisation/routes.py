"""Staff, settings and the audit log.

An institution admin manages the staff and settings of their own institution
and reads its audit log; a platform admin manages every account and reads the
whole log. Neither reads a case. Anyone else finds nothing here (404).
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from .. import accounts, admin, deadlines, notify, scoping
from ..errors import DomainError
from ..extensions import db
from ..forms import ActionForm, AwayForm, ListPage, requested_page
from ..models import AccountToken, Adv, AuditEvent, Case, Institution, User
from ..vocab import INSTITUTION_ROLES, Role
from . import bp
from .forms import InviteForm, SettingsForm

PER_PAGE = 50


@bp.before_request
def require_admin():
    if current_user.role not in (Role.INSTITUTION_ADMIN, Role.PLATFORM_ADMIN):
        abort(404)


def _is_platform() -> bool:
    return current_user.role == Role.PLATFORM_ADMIN


def _roles() -> list[Role]:
    return list(Role) if _is_platform() else list(INSTITUTION_ROLES)


def _institutions() -> list[Institution]:
    if _is_platform():
        return db.session.scalars(sa.select(Institution).order_by(Institution.name)).all()
    return [current_user.institution]


@bp.route("/medewerkers")
def staff():
    # Active accounts first, then by name: names are encrypted, so the order is made here
    # from (id, active, name) alone, and only the page's accounts are loaded whole.
    rows = db.session.execute(
        scoping.accounts_managed_by(current_user).with_only_columns(User.id, User.active, User.name)
    )
    order = [r.id for r in sorted(scoping.by_name(rows), key=lambda r: not r.active)]
    number = requested_page()
    ids = order[(number - 1) * PER_PAGE : number * PER_PAGE]
    users = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(ids)))}
    page = ListPage([users[i] for i in ids], number, PER_PAGE, len(order))
    return render_template(
        "organisation/staff.html",
        page=page,
        can_reset_two_factor=accounts.can_reset_two_factor,
        today=deadlines.today(),
    )


def _invite_page(form: InviteForm, status: int = 200):
    return render_template("organisation/invite.html", form=form), status


@bp.route("/medewerkers/uitnodigen", methods=["GET", "POST"])
def invite():
    """Invite a colleague: an account without a password, and a link by mail to choose one."""
    form = InviteForm(_roles(), _institutions())
    if not _is_platform() and not form.is_submitted():
        form.institution_id.data = str(current_user.institution_id)
    if not form.validate_on_submit():
        return _invite_page(form, 422 if form.is_submitted() else 200)
    role = Role(form.role.data)
    if _is_platform():
        institution = next(
            (i for i in _institutions() if str(i.id) == form.institution_id.data), None
        )
    else:
        institution = current_user.institution
    try:
        user, token = accounts.invite(
            email=form.email.data,
            name=form.name.data,
            role=role,
            institution=institution,
            actor=current_user,
            language=form.language.data,
        )
    except DomainError as error:
        form[error.field or "email"].errors.append(error.message)
        return _invite_page(form, 422)
    notify.password_link(user, token, AccountToken.INVITE)
    db.session.commit()
    return _back_to_staff(
        _("%(name)s is uitgenodigd; de uitnodiging staat klaar om te mailen.", name=user.name),
        "success",
    )


def _action(user_id: int):
    user = scoping.managed_account_or_404(current_user, user_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    return user


def _back_to_staff(message, category: str):
    """The staff list again, with what was done (or why not) above it."""
    flash(message, category)
    return redirect(url_for("organisation.staff"))


def _act(user_id: int, act, done):
    """`act(user, admin)` on a managed account; then `done` (with the account's name) above
    the staff list, or the domain's refusal."""
    user = _action(user_id)
    try:
        act(user, current_user)
    except DomainError as error:
        return _back_to_staff(error.message, "error")
    db.session.commit()
    return _back_to_staff(str(done) % {"name": user.name}, "success")


def _invite_again(user, _admin) -> None:
    notify.password_link(user, accounts.reinvite(user), AccountToken.INVITE)


@bp.route("/medewerkers/<id:user_id>/afwezig", methods=["GET", "POST"])
def away(user_id: int):
    """An admin marks a handler away (or back), so that their cases are not left alone."""
    user = scoping.managed_account_or_404(current_user, user_id)
    if user.role != Role.HANDLER or not user.active:
        abort(404)
    form = AwayForm(obj=user) if request.method == "GET" else AwayForm()
    if form.validate_on_submit():
        try:
            accounts.set_away(
                user, form.away_from.data, form.away_until.data, current_user, deadlines.today()
            )
        except DomainError as error:
            form[error.field].errors.append(error.message)
        else:
            db.session.commit()
            return _back_to_staff(
                _("De afwezigheid van %(name)s is opgeslagen.", name=user.name), "success"
            )
    status = 422 if form.is_submitted() else 200
    return render_template("organisation/away.html", form=form, user=user), status


@bp.route("/medewerkers/<id:user_id>/uitschakelen", methods=["POST"])
def disable(user_id: int):
    """Disable an account: every session of it ends at once."""
    return _act(user_id, accounts.disable, _l("Het account van %(name)s is uitgeschakeld."))


@bp.route("/medewerkers/<id:user_id>/tweestaps-herstellen", methods=["POST"])
def reset_two_factor(user_id: int):
    """For someone who lost their authenticator app: they set it up again at the next login."""
    done = _l("De tweestapsverificatie van %(name)s is hersteld.")
    return _act(user_id, accounts.reset_two_factor, done)


@bp.route("/medewerkers/<id:user_id>/opnieuw-uitnodigen", methods=["POST"])
def reinvite(user_id: int):
    """A new invitation link for someone who has not chosen a password yet."""
    return _act(user_id, _invite_again, _l("Er staat een nieuwe uitnodiging klaar voor %(name)s."))


@bp.route("/instelling", methods=["GET", "POST"])
def settings():
    """The institution admin sets their meldpunt's text, deadlines, ADV, retention and 2FA rule."""
    if current_user.role != Role.INSTITUTION_ADMIN:
        abort(404)
    institution = current_user.institution
    advs = db.session.scalars(sa.select(Adv).order_by(Adv.name)).all()
    if request.method == "POST":
        form = SettingsForm(advs)
    else:
        form = SettingsForm(advs, obj=institution, adv_id=str(institution.adv_id or ""))
    if form.validate_on_submit():
        changed = admin.change_settings(
            institution,
            actor=current_user,
            intro_text=(form.intro_text.data or "").strip(),
            ack_working_days=form.ack_working_days.data,
            feedback_months=form.feedback_months.data,
            overdue_repeat_days=form.overdue_repeat_days.data,
            overdue_admin_days=form.overdue_admin_days.data,
            retention_months=form.retention_months.data,
            require_2fa=bool(form.require_2fa.data),
            colour=form.colour.data.lower(),
            adv_id=next((a.id for a in advs if str(a.id) == form.adv_id.data), None),
        )
        db.session.commit()
        flash(
            _("De instellingen zijn opgeslagen.") if changed else _("Er was niets gewijzigd."),
            "success",
        )
        return redirect(url_for("organisation.settings"))
    status = 422 if form.is_submitted() else 200
    return render_template("organisation/settings.html", form=form, institution=institution), status


@bp.route("/opvolging")
def follow_up():
    """The institution admin's view of its follow-up: open and overdue cases, and each
    handler's load (counts only; admins do not read cases)."""
    if current_user.role != Role.INSTITUTION_ADMIN:
        abort(404)
    today = deadlines.today()
    institution_id = current_user.institution_id
    return render_template(
        "organisation/follow_up.html",
        summary=scoping.follow_up_of(institution_id, today),
        loads=scoping.handler_loads(institution_id, today),
        today=today,
    )


@bp.route("/logboek")
def log():
    """The audit trail: the institution's own events, or (platform admin) all of them."""
    page = db.paginate(
        scoping.audit_events_for(current_user).order_by(AuditEvent.id.desc()),
        page=requested_page(),
        per_page=PER_PAGE,
        error_out=False,
    )
    actor_ids = {e.actor_id for e in page.items if e.actor_id}
    case_ids = {e.case_id for e in page.items if e.case_id}
    actors = (
        dict(db.session.execute(sa.select(User.id, User.name).where(User.id.in_(actor_ids))).all())
        if actor_ids
        else {}
    )
    numbers = (
        dict(db.session.execute(sa.select(Case.id, Case.number).where(Case.id.in_(case_ids))).all())
        if case_ids
        else {}
    )
    rows = [
        {
            "event": e,
            "actor": actors.get(e.actor_id) if e.actor_type == "user" else e.actor_type,
            "case": numbers.get(e.case_id),
            "details": _details_text(e.details),
        }
        for e in page.items
    ]
    return render_template("organisation/log.html", page=page, rows=rows)


def _details_text(details: str) -> str:
    try:
        data = json.loads(details or "{}")
    except ValueError:
        return ""
    return ", ".join(f"{k}: {v}" for k, v in data.items())
