"""Demo data: fictional institutions, staff, learning companies and about fifty cases.

The content, all of it invented, is in `demo_data`; this module builds it. Cases are
made the way real ones are, through `intake.submit_report` and the workflow,
so that audit events, deadlines and statuses are what the application itself
produces. Only afterwards are their dates moved back over the past ten months
(demo data only), so that the desk shows cases of every age, some overdue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import sqlalchemy as sa

from . import admin, attachments, audit, deadlines, investigations, workflow
from .crypto import hash_password
from .deadlines import acknowledgement_due, feedback_due
from .demo_data import (
    ADV_CLOSED_NOTE,
    ADV_SUMMARY,
    ADVS,
    ANSWER,
    CASES,
    CLOSING,
    COMPANIES,
    FEEDBACK,
    INSTITUTIONS,
    NOTE,
    OTHER_STAFF,
    QUESTION,
    REPORT_FILES,
    REPORTERS,
    REPORTS,
    SBB_CONDITIONS,
    SBB_REASONING,
    SBB_SUMMARY,
    STUDENTS,
    DemoCase,
)
from .extensions import db
from .intake import ReportData, submit_report
from .models import (
    Adv,
    Case,
    Company,
    Institution,
    Investigation,
    OutboxMail,
    RecognitionChange,
    User,
    utcnow,
)
from .progress import Progress, silent
from .vocab import AdvAnswer, Channel, Decision, Outcome, Role, Status

# Printed with the demo logins; the demo never runs in production.
DEMO_PASSWORD = "demo-wachtwoord"  # noqa: S105  # nosec B105
DEMO_URL = "http://127.0.0.1:5000"


@dataclass
class Login:
    email: str
    role: Role
    institution: str | None


@dataclass
class DemoSummary:
    institutions: int = 0
    companies: int = 0
    cases: int = 0
    logins: list[Login] = field(default_factory=list)
    password: str = DEMO_PASSWORD
    url: str = DEMO_URL


def has_institutions() -> bool:
    """Whether the database holds any institution, demo or not."""
    return db.session.scalar(sa.select(Institution.id).limit(1)) is not None


def existing_demo_institution() -> str | None:
    """The name of a demo institution already in the database, if any (its BRIN or slug)."""
    brins = [spec.brin for spec in INSTITUTIONS.values()]
    slugs = [spec.slug for spec in INSTITUTIONS.values()]
    return db.session.scalar(
        sa.select(Institution.name).where(
            sa.or_(Institution.brin.in_(brins), Institution.slug.in_(slugs))
        )
    )


def existing_logins() -> list[Login]:
    """The demo accounts already in the database (their addresses end in .example; the
    addresses are encrypted, so they are read, not searched)."""
    users = db.session.scalars(sa.select(User).order_by(User.id)).all()
    return [
        Login(u.email, u.role, u.institution.name if u.institution else None)
        for u in users
        if u.email.endswith(".example")
    ]


def load(progress: Progress = silent) -> DemoSummary:
    """Add all demo data to the current transaction; the caller commits."""
    first_new_mail = db.session.scalar(sa.select(sa.func.max(OutboxMail.id))) or 0
    summary = DemoSummary()
    password_hash = hash_password(DEMO_PASSWORD)  # one hash: every demo login shares it
    institutions = _add_institutions(summary)
    handlers = _add_staff(institutions, password_hash, summary)
    companies = _add_companies(summary)
    cases = _add_cases(institutions, handlers, companies, progress)
    summary.cases = len(cases)
    for institution in institutions.values():
        _renumber(institution)
    _drop_demo_mail(first_new_mail)
    audit.record(
        "demo.loaded",
        actor="system",
        institutions=summary.institutions,
        users=len(summary.logins),
        companies=summary.companies,
        cases=summary.cases,
    )
    return summary


def _add_institutions(summary: DemoSummary) -> dict[str, Institution]:
    advs = {key: Adv(**fields) for key, fields in ADVS.items()}
    db.session.add_all(advs.values())
    institutions = {}
    for key, spec in INSTITUTIONS.items():
        institution = admin.add_institution(
            name=spec.name,
            brin=spec.brin,
            slug=spec.slug,
            city=spec.city,
            region=spec.region,
            colour=spec.colour,
            intro_text=spec.intro_text,
            adv=advs[spec.adv],
            demo=True,
        )
        institutions[key] = institution
    summary.institutions = len(institutions)
    return institutions


def _add_user(
    name: str, email: str, role: Role, institution: Institution | None, password_hash: str
) -> User:
    return admin.add_user(
        name=name,
        email=email,
        role=role,
        institution=institution,
        password_hash=password_hash,
        demo=True,
    )


def _add_staff(
    institutions: dict[str, Institution], password_hash: str, summary: DemoSummary
) -> dict[str, list[User]]:
    """Two handlers and an admin per institution, then SBB, monitor and platform admin."""
    handlers: dict[str, list[User]] = {}
    for key, spec in INSTITUTIONS.items():
        institution = institutions[key]
        handlers[key] = []
        for number, (name, role) in enumerate(spec.staff, start=1):
            local = f"handler{number}" if role == Role.HANDLER else "beheer"
            user = _add_user(name, f"{local}@{spec.domain}", role, institution, password_hash)
            summary.logins.append(Login(user.email, role, institution.name))
            if role == Role.HANDLER:
                handlers[key].append(user)
    for name, role, email in OTHER_STAFF:
        _add_user(name, email, role, None, password_hash)
        summary.logins.append(Login(email, role, None))
    return handlers


def _add_companies(summary: DemoSummary) -> dict[str, Company]:
    companies = {}
    for key, (name, kvk, city, sector) in COMPANIES.items():
        companies[key] = Company(name=name, kvk=kvk, city=city, sector=sector)
        db.session.add(companies[key])
    db.session.flush()
    summary.companies = len(companies)
    return companies


def _add_cases(
    institutions: dict[str, Institution],
    handlers: dict[str, list[User]],
    companies: dict[str, Company],
    progress: Progress = silent,
) -> list[Case]:
    """Submit the reports oldest first, then let each one's story happen."""
    cases = []
    previous: dict[tuple[str, str], Case] = {}
    ordered = sorted(enumerate(CASES), key=lambda item: -item[1].days_ago)
    for index, spec in ordered:
        institution = institutions[spec.institution]
        handler, colleague = _handlers_for(handlers[spec.institution], index)
        story = _submit(spec, index, institution, handler, colleague, companies)
        story.original = previous.get((spec.institution, spec.report))
        ENDINGS[spec.ending](story)
        previous[(spec.institution, spec.report)] = story.case
        cases.append(story.case)
        progress("demo", len(cases), len(CASES))
    return cases


def _handlers_for(staff: list[User], index: int) -> tuple[User, User]:
    handler = staff[index % len(staff)]
    return handler, staff[(index + 1) % len(staff)]


def _report_data(spec: DemoCase, index: int, company: Company | None) -> ReportData:
    _channel, reporter = REPORTERS[spec.reporter]
    data = replace(REPORTS[spec.report], **reporter)
    if not data.is_anonymous:
        name, student_number = STUDENTS[index % len(STUDENTS)]
        first = name.split()[0].lower()
        data = replace(
            data,
            reporter_name=name,
            student_number=student_number,
            email=f"{first}.{student_number}@student.example",
            phone=f"06 0000 {student_number[-4:]}",
            consent_contact=True,
            consent_sbb_identity=spec.ending in SBB_ENDINGS,
        )
    if spec.ending in SBB_ENDINGS:
        data = replace(data, consent_sbb=True)
    if spec.ending in ADV_ENDINGS:
        data = replace(data, consent_adv=True)
    if company is not None:
        data = replace(data, company_text=f"{company.name}, {company.city}")
    return data


def _submit(
    spec: DemoCase,
    index: int,
    institution: Institution,
    handler: User,
    colleague: User,
    companies: dict[str, Company],
) -> _Story:
    company = companies[spec.company] if spec.company else None
    channel = REPORTERS[spec.reporter][0]
    entered_by = handler if channel != Channel.WEB else None
    case, _code = submit_report(
        institution, _report_data(spec, index, company), channel=channel, entered_by=entered_by
    )
    files = [
        attachments.store_pending(attachments.clean(data, name), entered_by)
        for name, data in REPORT_FILES.get(spec.report, [])
    ]
    attachments.attach(case, files)
    # The handler matched the company the student named to the register.
    case.company = company
    db.session.flush()
    reviewer = db.session.scalar(sa.select(User).where(User.role == Role.SBB_REVIEWER))
    story = _Story(case, handler, colleague, utcnow() - timedelta(days=spec.days_ago), reviewer)
    case.submitted_at = story.start
    case.ack_due_on = acknowledgement_due(story.start, institution.ack_working_days)
    story.stamp(0)
    return story


class _Story:
    """One case's life, each step dated `day` days after submission (never in the future)."""

    def __init__(
        self,
        case: Case,
        handler: User,
        colleague: User,
        start: datetime,
        reviewer: User | None = None,
    ):
        self.case = case
        self.handler = handler
        self.colleague = colleague
        self.reviewer = reviewer
        self.start = start
        self.original: Case | None = None
        self._dated_messages: set[int] = set()
        self._acknowledgement_dated = False
        self._feedback_dated = False

    def at(self, day: float) -> datetime:
        return min(self.start + timedelta(days=day), utcnow() - timedelta(minutes=5))

    def step(self, day: float, action: Callable, *args, **kwargs):
        """Run a workflow function on this case, then date what it did."""
        was_closed = self.case.status == Status.CLOSED
        result = action(self.case, *args, **kwargs)
        db.session.flush()
        self.stamp(day, closed_now=not was_closed and self.case.status == Status.CLOSED)
        return result

    def sbb_step(self, day: float, action: Callable, *args, **kwargs):
        """SBB's reviewer acts on the investigation of this case, dated like the rest."""
        investigation = self.case.investigations[-1]
        result = action(investigation, self.reviewer, *args, **kwargs)
        db.session.flush()
        self.stamp(day)
        return result

    def stamp(self, day: float, closed_now: bool = False) -> None:
        moment = self.at(day)
        case = self.case
        for referral in case.referrals:
            if referral.referred_at > moment:
                referral.referred_at = moment
            if referral.answered_at is not None and referral.answered_at > moment:
                referral.answered_at = moment
        for investigation in case.investigations:
            _date_investigation(investigation, moment)
        for attachment in case.attachments:
            if attachment.created_at > moment:
                attachment.created_at = moment
        for message in case.messages:
            if message.id not in self._dated_messages:
                message.created_at = moment
                self._dated_messages.add(message.id)
        if case.acknowledged_at is not None and not self._acknowledgement_dated:
            case.acknowledged_at = moment
            case.feedback_due_on = feedback_due(moment, case.institution.feedback_months)
            self._acknowledgement_dated = True
        if case.feedback_at is not None and not self._feedback_dated:
            case.feedback_at = moment
            self._feedback_dated = True
        if closed_now:
            case.closed_at = moment


def _date_investigation(investigation: Investigation, moment: datetime) -> None:
    """Move what just happened on an investigation (and its recognition changes) back."""
    for name in ("created_at", "started_at", "decided_at", "objection_at", "closed_at"):
        value = getattr(investigation, name)
        if value is not None and value > moment:
            setattr(investigation, name, moment)
    changes = db.session.scalars(
        sa.select(RecognitionChange).where(
            RecognitionChange.investigation_id == investigation.id,
            RecognitionChange.changed_at > moment,
        )
    )
    for change in changes:
        change.changed_at = moment


# --- How each case goes on -----------------------------------------------------------------


def _acknowledge(story: _Story, day: float = 2) -> None:
    story.step(day, workflow.acknowledge, story.handler)


def _follow_up(story: _Story, feedback: bool = False) -> None:
    _acknowledge(story)
    story.step(4, workflow.start_follow_up, story.handler)
    story.step(5, workflow.send_message, story.handler, QUESTION)
    story.step(7, workflow.student_message, ANSWER)
    story.step(9, workflow.add_note, story.handler, NOTE)
    if feedback:
        story.step(20, workflow.send_message, story.handler, FEEDBACK, is_feedback=True)


def _close(story: _Story, day: float, outcome: Outcome, **kwargs) -> None:
    story.step(day, workflow.close, story.handler, outcome, CLOSING[outcome], **kwargs)


def _new(story: _Story) -> None:
    """Nobody has looked yet."""


def _triage(story: _Story) -> None:
    # The oldest acknowledgements came late: after the deadline of five working days.
    _acknowledge(story, day=2 if story.case.submitted_at > utcnow() - timedelta(days=100) else 9)
    story.step(3, workflow.assign, story.handler, story.colleague)


def _referred(story: _Story) -> None:
    _follow_up(story)
    case = story.case
    story.step(
        12,
        workflow.refer,
        story.handler,
        case.institution.adv,
        ADV_SUMMARY,
        share_contact=workflow.can_share_contact(case),
        attachment_ids=[a.id for a in case.attachments],
    )


def _escalated(story: _Story) -> None:
    _follow_up(story, feedback=True)
    case = story.case
    story.step(
        25,
        workflow.escalate,
        story.handler,
        SBB_SUMMARY,
        case.consent_sbb_identity,
        [a.id for a in case.attachments],
    )
    if case.submitted_at < utcnow() - timedelta(days=100):
        story.sbb_step(32, investigations.start)


def _reopened(story: _Story) -> None:
    _follow_up(story, feedback=True)
    _close(story, 40, Outcome.RESOLVED)
    story.step(
        70,
        workflow.reopen,
        story.handler,
        "De student meldt dat het opnieuw gebeurt bij een nieuwe stageplek.",
    )
    story.step(72, workflow.send_message, story.handler, QUESTION)


def _closed_after_follow_up(outcome: Outcome) -> Callable[[_Story], None]:
    def ending(story: _Story) -> None:
        _follow_up(story, feedback=True)
        _close(story, 60, outcome)

    return ending


def _closed_adv(story: _Story) -> None:
    _referred(story)
    story.step(20, workflow.record_adv_answer, story.handler, AdvAnswer.TAKEN_ON, None)
    story.step(50, workflow.record_adv_answer, story.handler, AdvAnswer.CLOSED, ADV_CLOSED_NOTE)
    _close(story, 55, Outcome.ADV_CLOSED)


def _closed_sbb(story: _Story) -> None:
    _escalated(story)
    story.sbb_step(
        90,
        investigations.decide,
        Decision.IMPROVEMENT,
        SBB_REASONING,
        conditions=SBB_CONDITIONS,
        conditions_due_on=deadlines.today() + timedelta(days=60),
    )
    _close(story, 95, Outcome.SBB_MEASURE)


def _closed_out_of_scope(story: _Story) -> None:
    _acknowledge(story)
    _close(story, 3, Outcome.OUT_OF_SCOPE)


def _withdrawn_new(story: _Story) -> None:
    story.step(1, workflow.withdraw, "Ik heb het zelf opgelost met mijn praktijkopleider.")


def _withdrawn_follow_up(story: _Story) -> None:
    _follow_up(story)
    story.step(30, workflow.withdraw, None)


def _duplicate(story: _Story) -> None:
    """The student sent the same report twice; it is closed against the first one."""
    _close(story, 1, Outcome.DUPLICATE, duplicate_of=story.original)


ENDINGS: dict[str, Callable[[_Story], None]] = {
    "new": _new,
    "triage": _triage,
    "follow_up": _follow_up,
    "follow_up_feedback": lambda story: _follow_up(story, feedback=True),
    "ready_for_sbb": _follow_up,
    "ready_for_adv": _follow_up,
    "referred": _referred,
    "escalated": _escalated,
    "reopened": _reopened,
    "closed_resolved": _closed_after_follow_up(Outcome.RESOLVED),
    "closed_company_addressed": _closed_after_follow_up(Outcome.COMPANY_ADDRESSED),
    "closed_no_action": _closed_after_follow_up(Outcome.NO_ACTION_WANTED),
    "closed_not_substantiated": _closed_after_follow_up(Outcome.NOT_SUBSTANTIATED),
    "closed_adv": _closed_adv,
    "closed_sbb": _closed_sbb,
    "closed_out_of_scope": _closed_out_of_scope,
    "withdrawn_new": _withdrawn_new,
    "withdrawn_follow_up": _withdrawn_follow_up,
    "duplicate": _duplicate,
}
ADV_ENDINGS = {"referred", "closed_adv", "ready_for_adv"}
SBB_ENDINGS = {"escalated", "closed_sbb", "ready_for_sbb"}


# --- Tidying up after the backdating ------------------------------------------------------


def _renumber(institution: Institution) -> None:
    """Give each case a number of the year it was (now) submitted in.

    Case numbers are given at submission, in the current year; after moving
    dates back, a "2025-..." number should be a case from 2025.
    """
    cases = db.session.scalars(
        sa.select(Case).where(Case.institution_id == institution.id).order_by(Case.id)
    ).all()
    for case in cases:  # first out of the way of the unique (institution, number)
        case.number = f"demo-{case.id}"
    db.session.flush()
    for case in cases:
        case.number = workflow.new_case_number(institution.id, case.submitted_at.year)
        db.session.flush()


def _drop_demo_mail(after_id: int) -> None:
    """Notices about invented, backdated events are not sent to invented people."""
    db.session.execute(sa.delete(OutboxMail).where(OutboxMail.id > after_id))
