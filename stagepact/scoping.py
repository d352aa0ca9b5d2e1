"""Tenant isolation: every query for cases, colleagues, managed accounts and audit events
is built here.

A handler sees the cases of their own institution and nothing else; every
other role sees no case at all; a student sees the one case their receipt code
opened. SBB reviewers see investigations (which hold only what an institution
shared), never a case; a handler sees the investigations of their own
institution's cases. A case outside that scope is a 404, never a
403, so that its existence is not revealed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from flask import abort

from .crypto import hash_receipt_code
from .extensions import db
from .models import AuditEvent, Case, Institution, Investigation, User
from .vocab import OPEN_STATUSES, Role


def cases_for(user: User) -> sa.Select:
    """All cases `user` may read, as a select to filter and paginate further."""
    query = sa.select(Case)
    if user.is_authenticated and user.role == Role.HANDLER and user.institution_id:
        return query.where(Case.institution_id == user.institution_id)
    return query.where(sa.false())


def own_reports(institution_id: int) -> sa.ColumnElement[bool]:
    """The reports of one institution, for its own staff's exact figures (the statistics
    page checks that the reader belongs to it)."""
    return Case.institution_id == institution_id


def get_case_or_404(user: User, case_id: int) -> Case:
    case = db.session.scalar(cases_for(user).where(Case.id == case_id))
    if case is None:
        abort(404)
    return case


def case_for_receipt_code(normalised_code: str) -> Case | None:
    """The case a receipt code opens, or None; the caller shows one generic message."""
    return db.session.scalar(
        sa.select(Case).where(Case.receipt_hash == hash_receipt_code(normalised_code))
    )


def case_for_reporter_session(case_id: object) -> Case | None:
    """The case a student's browser opened with its code (the id the session holds)."""
    if not isinstance(case_id, int):
        return None
    return db.session.get(Case, case_id)


def find_case_by_number(user: User, number: str) -> Case | None:
    return db.session.scalar(cases_for(user).where(Case.number == number.strip().upper()))


def case_number_taken(institution_id: int, number: str) -> bool:
    """Whether the institution already has a case with this number (numbers are per school)."""
    taken = sa.select(Case.id).where(Case.institution_id == institution_id, Case.number == number)
    return db.session.scalar(taken) is not None


def by_name(users) -> list[User]:
    """Staff (or rows with `name` and `id`) in the order of their names: encrypted, so
    sorted here, not in SQL."""
    return sorted(users, key=lambda u: (u.name.casefold(), u.id))


# --- Whether a meldpunt is open ----------------------------------------------------------


def _handler_who_can_log_in():
    """An active handler who has chosen a password (an invitation not yet accepted opens
    nothing), of the institution in the surrounding query."""
    return sa.and_(
        User.institution_id == Institution.id,
        User.role == Role.HANDLER,
        User.active.is_(True),
        User.password_hash.is_not(None),
    )


def accepting_reports() -> sa.ColumnElement[bool]:
    """The institutions whose meldpunt is open: only while someone is there to read a
    report, so at least one active handler who can log in."""
    return sa.exists().where(_handler_who_can_log_in())


def accepts_reports(institution: Institution) -> bool:
    return bool(
        db.session.scalar(
            sa.select(accepting_reports())
            .select_from(Institution)
            .where(Institution.id == institution.id)
        )
    )


def handler_counts() -> dict[int, dict[str, int]]:
    """Per institution: its handlers who can log in ("ready"), those invited who have not
    chosen a password yet ("invited") and those disabled ("disabled"), in one query."""
    ready = sa.and_(User.active.is_(True), User.password_hash.is_not(None))
    invited = sa.and_(User.active.is_(True), User.password_hash.is_(None))
    rows = db.session.execute(
        sa.select(
            User.institution_id,
            sa.func.count().filter(ready),
            sa.func.count().filter(invited),
            sa.func.count().filter(User.active.is_(False)),
        )
        .where(User.role == Role.HANDLER, User.institution_id.is_not(None))
        .group_by(User.institution_id)
    )
    return {row[0]: {"ready": row[1], "invited": row[2], "disabled": row[3]} for row in rows}


def institution_admins_of(institution_id: int) -> list[User]:
    """The active admins of one institution."""
    return by_name(
        db.session.scalars(
            sa.select(User).where(
                User.active.is_(True),
                User.role == Role.INSTITUTION_ADMIN,
                User.institution_id == institution_id,
            )
        )
    )


def admins_of(institution_id: int) -> list[User]:
    """Who answers for an institution's meldpunt: its active institution admins and the
    active platform admins."""
    return by_name(
        db.session.scalars(
            sa.select(User).where(
                User.active.is_(True),
                sa.or_(
                    sa.and_(
                        User.role == Role.INSTITUTION_ADMIN,
                        User.institution_id == institution_id,
                    ),
                    User.role == Role.PLATFORM_ADMIN,
                ),
            )
        )
    )


def handlers_of(institution_id: int) -> list[User]:
    """The active handlers of one institution, who may be assigned and are told of reports."""
    return by_name(
        db.session.scalars(
            sa.select(User).where(
                User.institution_id == institution_id,
                User.role == Role.HANDLER,
                User.active.is_(True),
            )
        )
    )


def colleague_or_none(user: User, colleague_id: int | None) -> User | None:
    """A handler of `user`'s own institution, or None: assignment never crosses tenants."""
    if colleague_id is None:
        return None
    return next((h for h in handlers_of(user.institution_id) if h.id == colleague_id), None)


def _is_admin(user: User) -> bool:
    return (
        user.is_authenticated
        and user.active
        and user.role in (Role.INSTITUTION_ADMIN, Role.PLATFORM_ADMIN)
    )


def _as_admin(user: User, query: sa.Select, institution_column) -> sa.Select:
    """Everything for a platform admin, their own institution's rows for an institution
    admin, nothing for anyone else."""
    if _is_admin(user) and user.role == Role.PLATFORM_ADMIN:
        return query
    if _is_admin(user) and user.institution_id:
        return query.where(institution_column == user.institution_id)
    return query.where(sa.false())


def accounts_managed_by(user: User) -> sa.Select:
    """The staff accounts `user` manages, as an admin."""
    return _as_admin(user, sa.select(User), User.institution_id)


def managed_account_or_404(user: User, account_id: int) -> User:
    account = db.session.scalar(accounts_managed_by(user).where(User.id == account_id))
    if account is None:
        abort(404)
    return account


def audit_events_for(user: User) -> sa.Select:
    """The audit events `user` may read, as an admin."""
    return _as_admin(user, sa.select(AuditEvent), AuditEvent.institution_id)


def investigations_for(user: User) -> sa.Select:
    """The SBB investigations `user` may read: all for SBB, their own escalations for a handler."""
    query = sa.select(Investigation)
    if not user.is_authenticated or not user.active:
        return query.where(sa.false())
    if user.role == Role.SBB_REVIEWER:
        return query
    if user.role == Role.HANDLER and user.institution_id:
        return query.where(Investigation.institution_id == user.institution_id)
    return query.where(sa.false())


def get_investigation_or_404(user: User, investigation_id: int) -> Investigation:
    investigation = db.session.scalar(
        investigations_for(user).where(Investigation.id == investigation_id)
    )
    if investigation is None:
        abort(404)
    return investigation


def sbb_reviewers() -> list[User]:
    return by_name(
        db.session.scalars(
            sa.select(User).where(User.role == Role.SBB_REVIEWER, User.active.is_(True))
        )
    )


# --- An institution's follow-up at a glance (its admin's overview) -----------------------


@dataclass(frozen=True)
class FollowUp:
    open: int
    unacknowledged: int
    oldest_unacknowledged: datetime | None  # when the oldest report not yet acknowledged came in
    ack_overdue: int
    feedback_overdue: int
    unassigned: int


@dataclass(frozen=True)
class HandlerLoad:
    handler: User
    open: int
    overdue: int


def follow_up_of(institution_id: int, today: date) -> FollowUp:
    """The institution's open cases, counted in one SQL aggregate."""
    is_open = Case.status.in_(OPEN_STATUSES)
    row = db.session.execute(
        sa.select(
            sa.func.count().filter(is_open),
            sa.func.count().filter(Case.ack_running()),
            sa.func.min(Case.submitted_at).filter(Case.ack_running()),
            sa.func.count().filter(Case.ack_overdue(today)),
            sa.func.count().filter(Case.feedback_overdue(today)),
            sa.func.count().filter(is_open, Case.assigned_to_id.is_(None)),
        ).where(own_reports(institution_id))
    ).one()
    return FollowUp(*row)


def handler_loads(institution_id: int, today: date) -> list[HandlerLoad]:
    """Each handler of the institution (disabled ones while they still hold open cases)
    with their open and overdue cases, in one grouped query."""
    is_open = Case.status.in_(OPEN_STATUSES)
    rows = db.session.execute(
        sa.select(
            User,
            sa.func.count(Case.id).filter(is_open),
            sa.func.count(Case.id).filter(Case.is_overdue(today)),
        )
        .outerjoin(Case, Case.assigned_to_id == User.id)
        .where(User.institution_id == institution_id, User.role == Role.HANDLER)
        .group_by(User.id)
    ).all()
    loads = [HandlerLoad(user, open_, overdue) for user, open_, overdue in rows]
    kept = [load for load in loads if load.handler.active or load.open]
    return sorted(kept, key=lambda load: (load.handler.name.casefold(), load.handler.id))
