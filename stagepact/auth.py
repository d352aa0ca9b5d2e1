"""Staff login and logout. Students never log in: their key is the receipt code."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, redirect, render_template, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from . import audit
from .crypto import verify_password
from .extensions import db, login_manager
from .forms import BaseForm
from .models import User, utcnow
from .vocab import Role

bp = Blueprint("auth", __name__)

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


@bp.route("/account")
@login_required
def account():
    """Who you are logged in as; the landing page for roles without a desk yet."""
    return render_template("auth/account.html")
