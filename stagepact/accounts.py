"""Staff accounts: passwords, invitation and reset links, two-factor authentication, sessions.

- A password is at least 12 characters, not a common password, and not
  guessable from the person's own name or address (zxcvbn).
- Invitations and resets are single-use links that expire; only a SHA-256 of
  the token is stored; a page never says whether an address has an account.
- TOTP (RFC 6238) with codes that work once, and ten recovery codes.
- Every session carries the user's `session_version`; raising it (logout,
  password change, 2FA reset, disabling the account) ends every session of
  that user at once, a copied cookie included.
- Failed logins make the failing address wait, never the owner's clean address
  (`login_failures`); the rate limiter adds a budget per address. Neither tells
  whether the account exists.
"""

from __future__ import annotations

import re
import secrets
import time
from datetime import date, datetime, timedelta
from types import SimpleNamespace

import pyotp
import segno
import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask import current_app, session
from flask_babel import lazy_gettext as _l
from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from . import audit, i18n, login_failures, outbox, scoping
from .crypto import MIN_PASSWORD_LENGTH, hash_password, token_digest
from .errors import DomainError
from .extensions import db
from .models import AccountToken, Institution, RecoveryCode, User, utcnow
from .vocab import INSTITUTION_ROLES, ROLE_LABELS, Role

INVITE_HOURS = 72
RESET_HOURS = 2
RECOVERY_CODES = 10
TOTP_ISSUER = "Meldpunt Stagediscriminatie"
# Roles that always need two-factor authentication; handlers when their institution says so.
TWO_FACTOR_ROLES = (Role.PLATFORM_ADMIN, Role.SBB_REVIEWER, Role.MONITOR, Role.INSTITUTION_ADMIN)
RESET_MAILS_PER_HOUR = 3
# A staff name is shown on pages, in mail headers and in the audit log: no control
# characters (CR/LF could forge a line there).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

_COMMON = frozenset(FREQUENCY_LISTS["passwords"])


class AccountError(DomainError):
    """A refusal about an account: its name, address, password or institution."""


# --- Passwords ----------------------------------------------------------------------------


def password_problem(password: str, user: User | None = None):
    """Why a new password is not good enough, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return _l("Gebruik minstens %(n)d tekens.", n=MIN_PASSWORD_LENGTH)
    if len(password) > 200:
        return _l("Gebruik hoogstens 200 tekens.")
    if password.lower() in _COMMON or password.lower().rstrip("0123456789!") in _COMMON:
        return _l("Dit wachtwoord staat in lijsten van veelgebruikte wachtwoorden. Kies een ander.")
    personal = []
    if user is not None:
        local = user.email.split("@")[0]
        personal = [user.email, local, *user.name.split(), *local.replace("_", ".").split(".")]
        if any(len(p) >= 4 and p.lower() in password.lower() for p in personal):
            return _l("Gebruik niet je eigen naam of e-mailadres in je wachtwoord.")
    if zxcvbn(password[:72], user_inputs=personal)["score"] < 3:
        return _l(
            "Dit wachtwoord is te makkelijk te raden. Maak het langer, bijvoorbeeld met een paar losse woorden."
        )
    return None


def set_password(user: User, password: str, actor: User | str | None = None) -> None:
    problem = password_problem(password, user)
    if problem:
        raise AccountError(problem, "password")
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    login_failures.forget_all(user)
    end_all_sessions(user)
    audit.record("user.password_set", actor=actor or user, user_id=user.id)


# --- Invitation and reset links -------------------------------------------------------------


def issue_link(user: User, purpose: str, token: str | None = None) -> str:
    """A new single-use token. Earlier links stay valid until they expire or one of the
    user's links is used: a stranger asking for a new link cannot cancel the owner's."""
    now = utcnow()
    token = token or secrets.token_urlsafe(32)
    lifetime = (
        timedelta(hours=INVITE_HOURS)
        if purpose == AccountToken.INVITE
        else timedelta(hours=RESET_HOURS)
    )
    db.session.add(
        AccountToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=token_digest(token),
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    db.session.flush()
    audit.record(f"user.{purpose}_link_issued", actor="system", user_id=user.id)
    return token


def redeem_link(token: str | None) -> AccountToken | None:
    """The valid, unused, unexpired link for this token, or None (for every other case alike)."""
    token = (token or "").strip()
    if not token or len(token) > 100:
        return None
    found = db.session.scalar(
        sa.select(AccountToken).where(AccountToken.token_hash == token_digest(token))
    )
    if found is None or found.used_at is not None or found.expires_at < utcnow():
        return None
    if not found.user.active:
        return None
    return found


def use_link(link: AccountToken) -> None:
    """The link has done its work: it and every other open link of its user stop working."""
    db.session.execute(
        sa.update(AccountToken)
        .where(AccountToken.user_id == link.user_id, AccountToken.used_at.is_(None))
        .values(used_at=utcnow())
    )


RESET_REQUEST = "account_reset_request"


def request_reset(email: str) -> None:
    """Forgot password. The request itself only queues a deferred mail to the typed address
    and records the request: no lookup, so the same work and the same timing whether or
    not the address has an account. `send-mail` then writes the link (`_compose_reset`)."""
    outbox.queue_deferred(email.strip().lower()[:254], RESET_REQUEST)
    audit.record("user.reset_requested", actor="anonymous")


@outbox.composer(RESET_REQUEST)
def _compose_reset(item) -> bool:
    """A reset link for an active account, at most RESET_MAILS_PER_HOUR an hour; nothing
    for an unknown or disabled address. A new link leaves the open ones valid."""
    from . import notify

    user = by_email(item.recipient)
    if user is None or not user.active:
        return False
    recent = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AccountToken)
        .where(
            AccountToken.user_id == user.id,
            AccountToken.purpose == AccountToken.RESET,
            AccountToken.created_at > utcnow() - timedelta(hours=1),
        )
    )
    if recent >= RESET_MAILS_PER_HOUR:
        audit.record("user.reset_mail_limited", actor="system", user_id=user.id)
        return False
    mail = notify.password_link_mail(user, issue_link(user, AccountToken.RESET), AccountToken.RESET)
    item.subject, item.body, item.purpose = mail.subject, mail.body, mail.purpose
    return True


def name_problem(name: str):
    """Why a staff name cannot be stored, or None."""
    if not name or not name.strip():
        return _l("Vul de naam in.")
    if len(name.strip()) > 200:
        return _l("Gebruik hoogstens 200 tekens.")
    if _CONTROL.search(name):
        return _l("Een naam kan geen regeleinde of ander stuurteken bevatten.")
    return None


def check_institution(role: Role, institution: Institution | None) -> None:
    """Handlers and institution admins belong to one institution; every other role (SBB,
    a monitor, the platform admin) to none."""
    if role in INSTITUTION_ROLES and institution is None:
        raise AccountError(_l("Kies de instelling van deze medewerker."), "institution_id")
    if role not in INSTITUTION_ROLES and institution is not None:
        raise AccountError(
            _l(
                "Een account met rol %(role)s hoort niet bij een instelling.",
                role=ROLE_LABELS[role],
            ),
            "institution_id",
        )


def reinvite(user: User) -> str:
    """A new invitation link for someone who has not chosen a password yet (to be mailed)."""
    if user.password_hash is not None or not user.active:
        raise AccountError(
            _l("Dit account heeft al een wachtwoord; gebruik 'wachtwoord vergeten'.")
        )
    return issue_link(user, AccountToken.INVITE)


def by_email(email: str) -> User | None:
    """The account with this address, whatever its letter case, or None."""
    return db.session.scalar(sa.select(User).where(User.with_email(email)))


def check_new_account(
    email: str, name: str, role: Role, institution: Institution | None
) -> tuple[str, str]:
    """The address and the name of a new account, normalised. Refuses a name that cannot
    be stored, an institution that does not fit the role, an address that is not one,
    and an address another account has."""
    problem = name_problem(name)
    if problem:
        raise AccountError(problem, "name")
    check_institution(role, institution)
    try:
        email = validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise AccountError(_l("Dit is geen geldig e-mailadres."), "email") from None
    if by_email(email) is not None:
        raise AccountError(_l("Er is al een account met dit e-mailadres."), "email")
    return email, name.strip()


def check_password(password: str, email: str, name: str) -> None:
    """Refuse a password for a new account with this address and name, by the same rule
    as `password_problem`."""
    problem = password_problem(password, SimpleNamespace(email=email, name=name))
    if problem:
        raise AccountError(problem, "password")


def invite(
    *,
    email: str,
    name: str,
    role: Role,
    institution: Institution | None,
    actor,
    language: str | None = None,
) -> tuple[User, str]:
    """A new account without a password, and the link to set one (to be mailed in
    `language`, which stays the account's language until its owner chooses another)."""
    email, name = check_new_account(email, name, role, institution)
    user = User(email=email, name=name, role=role, institution=institution, language=language)
    db.session.add(user)
    db.session.flush()
    audit.record(
        "user.invited",
        actor=actor,
        institution_id=user.institution_id,
        user_id=user.id,
        role=str(role),
    )
    return user, issue_link(user, AccountToken.INVITE)


# --- Sessions -------------------------------------------------------------------------------


def clear_session() -> None:
    """Empty the session, but for the visitor's language choice (see `language`)."""
    keep = {k: session[k] for k in i18n.SESSION_KEYS if k in session}
    session.clear()
    session.update(keep)


def start_session(user: User) -> None:
    """A fresh session for a login: nothing of the session before it survives."""
    clear_session()
    now = time.time()
    session["sv"] = user.session_version
    session["sid"] = secrets.token_urlsafe(16)
    session["login_at"] = now
    session["seen_at"] = now
    session.permanent = True


def session_valid(user: User) -> bool:
    """Whether this browser's session still belongs to `user` (not ended, not expired)."""
    now = time.time()
    if session.get("sv") != user.session_version:
        return False
    if now - session.get("login_at", 0) > current_app.config["SESSION_ABSOLUTE_SECONDS"]:
        return False
    if now - session.get("seen_at", 0) > current_app.config["SESSION_IDLE_SECONDS"]:
        return False
    session["seen_at"] = now
    return True


def end_all_sessions(user: User) -> None:
    user.session_version = (user.session_version or 1) + 1


def set_away(
    user: User, away_from: date | None, away_until: date | None, actor: User, today: date
) -> None:
    """Mark a handler away from `away_from` (or now) up to and including `away_until`, or
    back (both None). Refused: a last day in the past, a first day after the last, a
    first day without a last."""
    if away_until is None and away_from is not None:
        raise AccountError(_l("Vul ook de laatste dag in."), "away_until")
    if away_until is not None and away_until < today:
        raise AccountError(_l("Kies als laatste dag vandaag of later."), "away_until")
    if away_from is not None and away_until is not None and away_from > away_until:
        raise AccountError(_l("De eerste dag ligt na de laatste dag."), "away_from")
    if (user.away_from, user.away_until) == (away_from, away_until):
        return
    user.away_from, user.away_until = away_from, away_until
    audit.record(
        "user.away_changed",
        actor=actor,
        institution_id=user.institution_id,
        user_id=user.id,
        away=away_until is not None,
    )


def disable(user: User, actor: User) -> None:
    """Disable an account: every session of it ends at once. Nobody disables their own."""
    if user.id == actor.id:
        raise AccountError(_l("Je kunt je eigen account niet uitschakelen."))
    user.active = False
    end_all_sessions(user)
    audit.record("user.disabled", actor=actor, institution_id=user.institution_id, user_id=user.id)
    _close_meldpunt_without_handlers(user, actor)


def _close_meldpunt_without_handlers(user: User, actor: User | str) -> None:
    """A handler who was the last one able to log in takes the meldpunt with them: it
    takes no reports until there is one again (`scoping.accepting_reports`), and the
    people who can do something about it are told."""
    if user.role != Role.HANDLER or user.institution is None:
        return
    db.session.flush()
    if scoping.accepts_reports(user.institution):
        return
    audit.record("institution.meldpunt_closed", actor=actor, institution_id=user.institution_id)
    from . import notify

    notify.admins_of_closed_meldpunt(user.institution)


# --- Two-factor authentication ----------------------------------------------------------------


def two_factor_required(user: User) -> bool:
    """Whether this account must use 2FA (an account that has it on always uses it)."""
    if not current_app.config["TWO_FACTOR_ENFORCED"]:
        return False
    if user.role in TWO_FACTOR_ROLES:
        return True
    return user.role == Role.HANDLER and bool(user.institution and user.institution.require_2fa)


def begin_enrolment(user: User) -> str:
    """A new secret for the authenticator app; active only once a code from it is confirmed."""
    if user.totp_secret is None:
        user.totp_secret = pyotp.random_base32()
        user.totp_last_step = None
    return user.totp_secret


def provisioning_uri(user: User) -> str:
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)


def qr_svg(user: User) -> str:
    """The enrolment QR code as inline SVG (no script, no external image)."""
    return segno.make(provisioning_uri(user), error="m").svg_inline(
        scale=4, dark="#000000", light="#ffffff", border=4
    )


def _matching_step(secret: str, code: str, at: datetime | None = None) -> int | None:
    code = "".join(ch for ch in code if ch.isdigit())
    if len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    step = totp.timecode(at or datetime.now())
    for candidate in (step, step - 1, step + 1):  # one step of clock drift either way
        if secrets.compare_digest(totp.generate_otp(candidate), code):
            return candidate
    return None


def verify_code(user: User, code: str) -> bool:
    """A TOTP code of `user`'s secret that was not used before (each works once)."""
    if not user.totp_secret:
        return False
    step = _matching_step(user.totp_secret, code)
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        return False
    user.totp_last_step = step
    return True


def confirm_enrolment(user: User, code: str) -> list[str]:
    """Turn 2FA on with a first code; returns the recovery codes, shown once."""
    if not verify_code(user, code):
        raise AccountError(
            _l("Deze code klopt niet. Typ de zes cijfers die de app nu laat zien."), "code"
        )
    user.totp_enabled_at = utcnow()
    audit.record("user.2fa_enabled", actor=user, user_id=user.id)
    return new_recovery_codes(user)


def new_recovery_codes(user: User) -> list[str]:
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        code = "-".join(secrets.token_hex(2) for _ in range(3))
        codes.append(code)
        db.session.add(RecoveryCode(user_id=user.id, code_hash=token_digest(code)))
    db.session.flush()
    return codes


def use_recovery_code(user: User, code: str) -> bool:
    normalised = code.strip().lower().replace(" ", "")
    found = db.session.scalar(
        sa.select(RecoveryCode).where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == token_digest(normalised),
            RecoveryCode.used_at.is_(None),
        )
    )
    if found is None:
        return False
    found.used_at = utcnow()
    audit.record("user.recovery_code_used", actor=user, user_id=user.id)
    return True


def can_reset_two_factor(actor: User, user: User) -> bool:
    """Who may turn off someone's 2FA: the platform admin for anyone, an institution admin
    for the handlers of their own institution. A peer admin's second factor goes through
    the platform admin, so one admin's stolen session cannot take over the others."""
    if actor.role == Role.PLATFORM_ADMIN:
        return True
    return (
        actor.role == Role.INSTITUTION_ADMIN
        and user.role == Role.HANDLER
        and user.institution_id == actor.institution_id
    )


def reset_two_factor(user: User, actor: User) -> None:
    """An admin turns 2FA off for someone who lost their app; they enrol again at next login.
    Refused where `can_reset_two_factor` says no."""
    if not can_reset_two_factor(actor, user):
        raise AccountError(
            _l(
                "De tweestapsverificatie van een beheerder herstelt alleen de platformbeheerder. Vraag het daar aan."
            )
        )
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    end_all_sessions(user)
    audit.record("user.2fa_reset", actor=actor, institution_id=user.institution_id, user_id=user.id)
