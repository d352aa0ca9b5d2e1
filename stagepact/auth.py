"""Staff login, two-factor authentication, passwords and the account page.

Students never log in: their key is the receipt code. No page here says
whether an account exists: a failed login, a forgotten password and a bad
link all get the same answer whatever the address.
"""

from __future__ import annotations

import time

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from . import accounts, api_tokens, audit, deadlines, i18n, login_failures
from .crypto import verify_password
from .extensions import client_address, db, limiter, login_manager
from .forms import ActionForm, AwayForm, BaseForm
from .models import ApiToken, User
from .vocab import Role

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.login"
login_manager.login_message = _l("Log in om deze pagina te zien.")
# Flask-Login's own session protection is off: in "strong" mode it leaves permanent
# sessions (every staff session is one) alone, and on a student's session it only sent a
# cookie-deletion header. A session ends with its account's session version (logout,
# password or 2FA change, disabling) and its idle and absolute time limits (see
# `accounts.session_valid`); the cookie is signed and Secure/HttpOnly/SameSite.
login_manager.session_protection = None

PENDING = "pending_login"
PENDING_SECONDS = 5 * 60
# Per address generous (a school shares one). There is deliberately no limit per account:
# a stranger could spend it and lock the owner out. Wrong passwords make the failing
# address wait instead (login_failures).
LOGIN_PER_ADDRESS = "60 per 10 minutes"


# Every endpoint needs a logged-in staff member, except these: checked once before each
# request (`require_login`), so that a new route is closed until it is named here. The
# student's pages are opened with the receipt code, never a login; the statistics API
# with a monitor's token, which it checks itself.
PUBLIC_ENDPOINTS = frozenset(
    {
        "static",
        "health.healthz",
        "health.readyz",
        "health.prometheus_metrics",
        "language.choose",
        "auth.login",
        "auth.second_factor",
        "auth.enrol",
        "auth.forgot_password",
        "auth.set_password",
        "api.openapi",
        "api.statistics_table",
        "student.start",
        "student.accessibility",
        "student.meldpunt",
        "student.house_style",
        "student.report",
        "student.follow_up",
        "student.stop",
        "student.case",
        "student.download",
        "student.export_data",
        "student.notice_email",
        "student.withdraw",
        "student.request_erasure",
        "student.send_message",
    }
)


def require_login():
    """Before each request: a staff endpoint without a logged-in account goes to the login
    page (an address that matches no route is left to its 404 or 405)."""
    endpoint = request.endpoint
    if endpoint is None or endpoint in PUBLIC_ENDPOINTS or request.method == "OPTIONS":
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
    if user is None or not user.active or not accounts.session_valid(user):
        # Gone, disabled, logged out elsewhere, password or 2FA changed, idle or too old:
        # this session is over, and nothing of it is left for the next login here.
        accounts.clear_session()
        return None
    return user


class LoginForm(BaseForm):
    email = EmailField(
        _l("E-mailadres"),
        validators=[DataRequired(_l("Vul je e-mailadres in.")), Length(max=254)],
    )
    password = PasswordField(
        _l("Wachtwoord"),
        validators=[DataRequired(_l("Vul je wachtwoord in.")), Length(max=1000)],
    )


class CodeForm(BaseForm):
    code = StringField(
        _l("Code"),
        validators=[DataRequired(_l("Vul de code in.")), Length(max=40)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class ForgotForm(BaseForm):
    email = EmailField(
        _l("E-mailadres"),
        validators=[DataRequired(_l("Vul je e-mailadres in.")), Length(max=254)],
    )


class NewPasswordForm(BaseForm):
    password = PasswordField(
        _l("Nieuw wachtwoord"),
        validators=[DataRequired(_l("Kies een wachtwoord.")), Length(max=200)],
        render_kw={"autocomplete": "new-password"},
    )
    repeat = PasswordField(
        _l("Herhaal het wachtwoord"),
        validators=[DataRequired(_l("Typ het wachtwoord nog een keer."))],
        render_kw={"autocomplete": "new-password"},
    )

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if ok and self.password.data != self.repeat.data:
            self.repeat.errors.append(_l("De twee wachtwoorden zijn niet hetzelfde."))
            ok = False
        return ok


class ChangePasswordForm(NewPasswordForm):
    current = PasswordField(
        _l("Huidig wachtwoord"),
        validators=[DataRequired(_l("Vul je huidige wachtwoord in."))],
        render_kw={"autocomplete": "current-password"},
    )


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


class LinkPasswordForm(NewPasswordForm):
    # The code from the mail: filled in from the link's fragment by static/js/link-code.js,
    # or pasted by hand. It travels in this POST's body, never in a URL.
    token = StringField(
        _l("Code uit de mail"),
        validators=[DataRequired(_l("Vul de code uit de mail in.")), Length(max=100)],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )


# --- Logging in ---------------------------------------------------------------------------


def _complete_login(user: User):
    failures = login_failures.record_success(user, client_address())
    i18n.remember_at_login(user)
    accounts.start_session(user)
    login_user(user)
    audit.record("auth.logged_in", actor=user, institution_id=user.institution_id)
    db.session.commit()
    if failures:
        flash(
            _(
                "Sinds je vorige keer inloggen is er %(n)d keer geprobeerd in te loggen met een verkeerd wachtwoord of een verkeerde code.",
                n=failures,
            ),
            "info",
        )
    return redirect(home_for(user))


def _pending_user() -> User | None:
    """The user who gave the right password and still owes a second factor."""
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        session.pop(PENDING, None)
        return None
    user = db.session.get(User, pending.get("user") or 0)
    if user is None or not user.active or user.session_version != pending.get("sv"):
        session.pop(PENDING, None)
        return None
    return user


def _failed(user: User | None, *, counted: bool = True) -> None:
    """A refused login or code. A try made while its address waits is not counted again,
    so that waiting does not grow by trying."""
    if counted:
        login_failures.record_failure(user, client_address())
    audit.record(
        "auth.login_failed",
        actor="anonymous",
        user_id=user.id if user is not None else None,
        institution_id=user.institution_id if user is not None else None,
    )
    db.session.commit()


@bp.route("/inloggen", methods=["GET", "POST"])
@limiter.limit(LOGIN_PER_ADDRESS, methods=["POST"])
def login():
    """Staff login. A failure says the same thing whether or not the account exists."""
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm()
    failed = False
    if form.validate_on_submit():
        user = accounts.by_email(form.email.data)
        # While this address waits after its failures, no password is even checked;
        # an address without failures is always checked.
        waiting = login_failures.login_delayed(user, client_address())
        hashed = user.password_hash if user is not None and not waiting else None
        password_ok = verify_password(hashed, form.password.data)
        if user is not None and user.active and password_ok and not waiting:
            if user.totp_enabled_at is not None or accounts.two_factor_required(user):
                accounts.clear_session()
                session[PENDING] = {"user": user.id, "sv": user.session_version, "at": time.time()}
                target = "auth.second_factor" if user.totp_enabled_at else "auth.enrol"
                return redirect(url_for(target))
            return _complete_login(user)
        _failed(user, counted=not waiting)
        failed = True
    return render_template("auth/login.html", form=form, failed=failed), 401 if failed else 200


@bp.route("/inloggen/code", methods=["GET", "POST"])
@limiter.limit("20 per 10 minutes", methods=["POST"])
def second_factor():
    """The code from the authenticator app, or one of the recovery codes."""
    user = _pending_user()
    if user is None:
        return redirect(url_for("auth.login"))
    if user.totp_enabled_at is None:
        return redirect(url_for("auth.enrol"))
    form = CodeForm()
    if form.validate_on_submit():
        code = form.code.data.strip()
        waiting = login_failures.login_delayed(user, client_address())
        if not waiting and (
            accounts.verify_code(user, code) or accounts.use_recovery_code(user, code)
        ):
            return _complete_login(user)
        _failed(user, counted=not waiting)
        form.code.errors.append(
            _l(
                "Deze code klopt niet of is al gebruikt. Wacht op de volgende code en probeer het opnieuw."
            )
        )
    status = 422 if form.is_submitted() else 200
    return render_template("auth/second_factor.html", form=form), status


@bp.route("/inloggen/tweestapsverificatie", methods=["GET", "POST"])
@limiter.limit("20 per 10 minutes", methods=["POST"])
def enrol():
    """Set up the authenticator app, required for this account before it can go on."""
    user = _pending_user()
    if user is None:
        return redirect(url_for("auth.login"))
    if user.totp_enabled_at is not None:
        return redirect(url_for("auth.second_factor"))
    accounts.begin_enrolment(user)
    db.session.commit()
    form = CodeForm()
    if form.validate_on_submit():
        try:
            codes = accounts.confirm_enrolment(user, form.code.data)
        except accounts.AccountError as error:
            form.code.errors.append(error.message)
        else:
            _complete_login(user)
            return render_template("auth/recovery_codes.html", codes=codes, next=home_for(user))
    status = 422 if form.is_submitted() else 200
    return render_template(
        "auth/enrol.html",
        form=form,
        qr=accounts.qr_svg(user),
        secret=user.totp_secret,
    ), status


@bp.route("/uitloggen", methods=["POST"])
def logout():
    """End this session and every other session of this account (POST, with the CSRF token)."""
    user = current_user._get_current_object()
    accounts.end_all_sessions(user)
    audit.record("auth.logged_out", actor=user, institution_id=user.institution_id)
    db.session.commit()
    logout_user()
    accounts.clear_session()
    return redirect(url_for("auth.login"))


# --- Passwords ------------------------------------------------------------------------------


@bp.route("/wachtwoord-vergeten", methods=["GET", "POST"])
@limiter.limit("10 per 15 minutes", methods=["POST"])
def forgot_password():
    """A reset link by mail. The answer is the same whether or not the address has an account,
    and so is the work behind it (see `accounts.request_reset`)."""
    form = ForgotForm()
    if form.validate_on_submit():
        accounts.request_reset(form.email.data.strip().lower())
        db.session.commit()
        return render_template("auth/forgot_sent.html")
    status = 422 if form.is_submitted() else 200
    return render_template("auth/forgot.html", form=form), status


@bp.route("/wachtwoord-instellen", methods=["GET", "POST"])
@limiter.limit("20 per 15 minutes", methods=["POST"])
def set_password():
    """Choose a password from an invitation or a reset link (single use, expiring).

    The mail links here with the token in the fragment (`#...`), which browsers never send:
    a small script copies it into the form, or the person pastes the code from the mail.
    The token reaches the server only in this form's POST body, never in a URL or a log.
    """
    form = LinkPasswordForm()
    if form.validate_on_submit():
        link = accounts.redeem_link(form.token.data)
        if link is None:
            form.token.errors.append(
                _l(
                    "Deze code werkt niet (meer). Vraag een nieuwe link aan via 'wachtwoord vergeten', of vraag je beheerder om een nieuwe uitnodiging."
                )
            )
        else:
            try:
                accounts.set_password(link.user, form.password.data)
            except accounts.AccountError as error:
                form.password.errors.append(error.message)
            else:
                accounts.use_link(link)
                db.session.commit()
                flash(_("Je wachtwoord is ingesteld. Log nu in."), "success")
                return redirect(url_for("auth.login"))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/set_password.html", form=form), status


# --- The account page -----------------------------------------------------------------------


def _account_page(
    token_form: ApiTokenForm | None = None,
    password_form: ChangePasswordForm | None = None,
    new_token: str | None = None,
    away_form: AwayForm | None = None,
    status=200,
):
    tokens = api_tokens.tokens_of(current_user) if current_user.role == Role.MONITOR else []
    return render_template(
        "auth/account.html",
        token_form=token_form or ApiTokenForm(formdata=None),
        password_form=password_form or ChangePasswordForm(formdata=None, prefix="pw"),
        tokens=tokens,
        new_token=new_token,
        away_form=away_form or AwayForm(formdata=None, obj=current_user, prefix="away"),
        today=deadlines.today(),
        idle_minutes=current_app.config["SESSION_IDLE_SECONDS"] // 60,
    ), status


@bp.route("/account")
def account():
    """Who you are logged in as; your password; a monitor's API tokens."""
    return _account_page()


@bp.route("/account/wachtwoord", methods=["POST"])
@limiter.limit("10 per 15 minutes")
def change_password():
    """A new password ends every other session; this one goes on."""
    user = current_user._get_current_object()
    form = ChangePasswordForm(prefix="pw")
    if form.validate_on_submit():
        if not verify_password(user.password_hash, form.current.data):
            form.current.errors.append(_l("Dit is niet je huidige wachtwoord."))
        else:
            try:
                accounts.set_password(user, form.password.data)
            except accounts.AccountError as error:
                form.password.errors.append(error.message)
            else:
                accounts.start_session(user)
                login_user(user)
                db.session.commit()
                flash(_("Je wachtwoord is veranderd. Andere sessies zijn beëindigd."), "success")
                return redirect(url_for("auth.account"))
    db.session.rollback()
    return _account_page(password_form=form, status=422)


@bp.route("/account/afwezig", methods=["POST"])
def set_away():
    """A handler says when they are away, so that their cases are not left alone."""
    if current_user.role != Role.HANDLER:
        abort(404)
    form = AwayForm(prefix="away")
    if form.validate_on_submit():
        try:
            accounts.set_away(
                current_user,
                form.away_from.data,
                form.away_until.data,
                current_user,
                deadlines.today(),
            )
        except accounts.AccountError as error:
            form[error.field].errors.append(error.message)
        else:
            db.session.commit()
            flash(_("Je afwezigheid is opgeslagen."), "success")
            return redirect(url_for("auth.account"))
    db.session.rollback()
    return _account_page(away_form=form, status=422)


@bp.route("/account/api-sleutels", methods=["POST"])
def create_api_token():
    """A new API token, shown once in this response and never again."""
    if current_user.role != Role.MONITOR:
        abort(404)
    form = ApiTokenForm()
    if not form.validate_on_submit():
        return _account_page(token_form=form, status=422)
    try:
        _token, plain = api_tokens.create(current_user, form.name.data)
    except api_tokens.TokenError as error:
        form.name.errors.append(error.message)
        return _account_page(token_form=form, status=422)
    db.session.commit()
    return _account_page(new_token=plain)


@bp.route("/account/api-sleutels/<id:token_id>/intrekken", methods=["POST"])
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
