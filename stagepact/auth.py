"""Staff login and logout. Students never log in: their key is the receipt code."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from . import api_tokens, audit
from .crypto import verify_password
from .extensions import db, login_manager
from .forms import BaseForm
from .models import ApiToken, User, utcnow
from .vocab import Role

bp = Blueprint("auth", __name__)


class ActionForm(BaseForm):
    """A button that only needs the CSRF token."""


login_manager.login_view = "auth.login"
login_manager.login_message = _l("Log in om deze pagina te zien.")
login_manager.session_protection = "strong"


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
    return user if user is not None and user.active else None


class LoginForm(BaseForm):
    email = EmailField(
        _l("E-mailadres"),
        validators=[DataRequired(_l("Vul je e-mailadres in.")), Length(max=254)],
    )
    password = PasswordField(
        _l("Wachtwoord"),
        validators=[DataRequired(_l("Vul je wachtwoord in.")), Length(max=1000)],
    )


def home_for(user: User) -> str:
    if user.role == Role.HANDLER:
        return url_for("desk.inbox")
    if user.role == Role.SBB_REVIEWER:
        return url_for("sbb.queue")
    if user.role == Role.PLATFORM_ADMIN:
        return url_for("platform.index")
    if user.role in (Role.MONITOR, Role.INSTITUTION_ADMIN):
        return url_for("stats.index")
    return url_for("auth.account")


@bp.route("/inloggen", methods=["GET", "POST"])
def login():
    """Staff login. A failure says the same thing whether or not the account exists."""
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm()
    failed = False
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        user = db.session.scalar(sa.select(User).where(User.email == email))
        password_ok = verify_password(user.password_hash if user else None, form.password.data)
        if user is not None and user.active and password_ok:
            session.clear()  # a fresh session for the new identity
            login_user(user)
            user.last_login_at = utcnow()
            audit.record("auth.login", actor=user, institution_id=user.institution_id)
            db.session.commit()
            return redirect(home_for(user))
        audit.record(
            "auth.login_failed",
            actor="anonymous",
            user_id=user.id if user is not None else None,
            institution_id=user.institution_id if user is not None else None,
        )
        db.session.commit()
        failed = True
    return render_template("auth/login.html", form=form, failed=failed), 200 if not failed else 401


@bp.route("/uitloggen", methods=["POST"])
@login_required
def logout():
    """End the session (POST only, with the CSRF token)."""
    audit.record("auth.logout", actor=current_user, institution_id=current_user.institution_id)
    db.session.commit()
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


class ApiTokenForm(BaseForm):
    name = StringField(
        _l("Waarvoor is de sleutel?"),
        validators=[
            DataRequired(
                _l("Geef de sleutel een naam, bijvoorbeeld het dashboard dat hem gebruikt.")
            ),
            Length(max=100, message=_l("Gebruik hoogstens 100 tekens.")),
        ],
    )


def _account_page(form: ApiTokenForm | None = None, new_token: str | None = None, status=200):
    tokens = api_tokens.tokens_of(current_user) if current_user.role == Role.MONITOR else []
    return render_template(
        "auth/account.html",
        token_form=form or ApiTokenForm(formdata=None),
        tokens=tokens,
        new_token=new_token,
    ), status


@bp.route("/account")
@login_required
def account():
    """Who you are logged in as; a monitor's API tokens."""
    return _account_page()


@bp.route("/account/api-sleutels", methods=["POST"])
@login_required
def create_api_token():
    """A new API token, shown once in this response and never again."""
    if current_user.role != Role.MONITOR:
        abort(404)
    form = ApiTokenForm()
    if not form.validate_on_submit():
        return _account_page(form, status=422)
    try:
        _token, plain = api_tokens.create(current_user, form.name.data)
    except api_tokens.TokenError as error:
        form.name.errors.append(error.message)
        return _account_page(form, status=422)
    db.session.commit()
    return _account_page(new_token=plain)


@bp.route("/account/api-sleutels/<id:token_id>/intrekken", methods=["POST"])
@login_required
def revoke_api_token(token_id: int):
    if current_user.role != Role.MONITOR:
        abort(404)
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != current_user.id or not ActionForm().validate_on_submit():
        abort(404)
    api_tokens.revoke(token, current_user)
    db.session.commit()
    flash(_l("De sleutel is ingetrokken; hij werkt niet meer."), "success")
    return redirect(url_for("auth.account"))
