"""The case state machine: who may take which step in which state, and what each step does."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from stagepact import deadlines, workflow
from stagepact.extensions import db
from stagepact.models import AuditEvent, Case, Message, OutboxMail, utcnow
from stagepact.vocab import AdvAnswer, ConsentKind, ConsentSource, Decision, Outcome, Role, Status
from stagepact.workflow import REPORTER, WorkflowError, operations, states
from tests.factories import make_case, make_company, make_institution, make_user
from tests.helpers import count

S = Status
OPEN = frozenset({S.NEW, S.TRIAGE, S.FOLLOW_UP, S.REFERRED, S.ESCALATED})
EVERY_STATE = OPEN | {S.CLOSED}

OWN_HANDLER = "own_handler"
ACTORS = [
    OWN_HANDLER,
    "other_institutions_handler",
    "own_institution_admin",
    "sbb_reviewer",
    "monitor",
    "platform_admin",
    "reporter",
]

# Written out by hand from DESIGN.md "The case workflow", not derived from the code:
# action -> (the states it may start from, who may take it). The guards beyond
# the state (consent for the ADV, a linked company for SBB) are met in the matrix
# and tested on their own below.
EXPECTED = {
    "acknowledge": ({S.NEW}, {OWN_HANDLER}),
    "start_follow_up": ({S.TRIAGE}, {OWN_HANDLER}),
    "refer": ({S.TRIAGE, S.FOLLOW_UP}, {OWN_HANDLER}),
    "return_from_referral": ({S.REFERRED}, {OWN_HANDLER}),
    "escalate": ({S.TRIAGE, S.FOLLOW_UP}, {OWN_HANDLER}),
    # SBB's decision sends the case back; the school cannot close while SBB investigates.
    "return_from_escalation": ({S.ESCALATED}, {"sbb_reviewer"}),
    "close": (OPEN - {S.ESCALATED}, {OWN_HANDLER}),
    "reopen": ({S.CLOSED}, {OWN_HANDLER}),
    "withdraw": (OPEN, {"reporter"}),
    "assign": (OPEN, {OWN_HANDLER}),
    "message": (OPEN, {OWN_HANDLER, "reporter"}),
    "note": (EVERY_STATE, {OWN_HANDLER}),
    "link_company": (OPEN, {OWN_HANDLER}),
    "consent": (OPEN, {OWN_HANDLER}),
    "adv_answer": ({S.REFERRED}, {OWN_HANDLER}),
    # The student asks with the code at any time; the handler erases once the case is closed.
    "request_erasure": (EVERY_STATE, {"reporter"}),
    # The student gives an address for "there is news" notices, whatever the state.
    "notice_email": (EVERY_STATE, {"reporter"}),
    "erase": ({S.CLOSED}, {OWN_HANDLER}),
}

# The audit action each transition records: what happened, in the past tense.
EVENT = {
    "acknowledge": "case.acknowledged",
    "start_follow_up": "case.follow_up_started",
    "refer": "case.referred",
    "return_from_referral": "case.returned_from_referral",
    "escalate": "case.escalated",
    "return_from_escalation": "case.returned_from_escalation",
    "close": "case.closed",
    "reopen": "case.reopened",
    "withdraw": "case.withdrawn",
}

# Where each transition leads.
TARGET = {
    "acknowledge": S.TRIAGE,
    "start_follow_up": S.FOLLOW_UP,
    "refer": S.REFERRED,
    "return_from_referral": S.FOLLOW_UP,
    "escalate": S.ESCALATED,
    "return_from_escalation": S.FOLLOW_UP,
    "close": S.CLOSED,
    "reopen": S.FOLLOW_UP,
    "withdraw": S.CLOSED,
}

ACTIONS = [*workflow.TRANSITIONS, *workflow.CASE_ACTIONS]

NARRATIVE = "Zij zeiden dat iemand met mijn achternaam niet bij de klanten past."
STUDENT_ADDRESS = "student.melder@example.org"


# --- Building cases ---------------------------------------------------------------------


def _bring_to(case: Case, status: Status, handler) -> None:
    """Walk a new case to `status` through the workflow's own operations."""
    if status == S.NEW:
        return
    workflow.acknowledge(case, handler)
    if status == S.TRIAGE:
        return
    if status == S.REFERRED:
        workflow.refer(case, handler, case.institution.adv, "Samenvatting voor het ADV.", False)
        return
    if status == S.ESCALATED:
        workflow.escalate(case, handler, "Samenvatting voor SBB, zonder namen.", False)
        return
    workflow.start_follow_up(case, handler)
    if status == S.CLOSED:
        workflow.close(case, handler, Outcome.RESOLVED, "We hebben het samen opgelost.")


def _case_in(status: Status, institution=None, **fields):
    """A case in `status` whose guards for ADV and SBB are met, with its handler."""
    institution = institution or make_institution()
    handler = make_user(Role.HANDLER, institution)
    fields = {"consent_adv": True, "consent_sbb": True, **fields}
    case, _code = make_case(institution, narrative=NARRATIVE, **fields)
    case.company_id = make_company().id
    _bring_to(case, status, handler)
    assert case.status == status
    return case, handler


def _actor(kind: str, case: Case, own_handler):
    if kind == OWN_HANDLER:
        return own_handler
    if kind == "other_institutions_handler":
        return make_user(Role.HANDLER, make_institution())
    if kind == "own_institution_admin":
        return make_user(Role.INSTITUTION_ADMIN, case.institution)
    if kind == "reporter":
        return REPORTER
    return make_user(Role(kind))


def _perform(action: str, case: Case, actor, assignee=None) -> None:
    """Call the operation the rest of the application calls for `action`."""
    if action == "acknowledge":
        workflow.acknowledge(case, actor)
    elif action == "start_follow_up":
        workflow.start_follow_up(case, actor)
    elif action == "refer":
        workflow.refer(case, actor, case.institution.adv, "Samenvatting voor het ADV.", False)
    elif action == "return_from_referral":
        workflow.record_adv_answer(case, actor, AdvAnswer.CLOSED, "Het ADV sloot de melding af.")
    elif action == "escalate":
        workflow.escalate(case, actor, "Samenvatting voor SBB, zonder namen.", False)
    elif action == "return_from_escalation":
        workflow.return_from_escalation(case, actor, Decision.NO_ACTION)
    elif action == "adv_answer":
        workflow.record_adv_answer(case, actor, AdvAnswer.TAKEN_ON, None)
    elif action == "consent":
        workflow.record_consent(case, actor, ConsentKind.CONTACT, True, ConsentSource.HANDLER)
    elif action == "close":
        outcome = Outcome.RESOLVED if case.status == S.FOLLOW_UP else Outcome.OUT_OF_SCOPE
        workflow.close(case, actor, outcome, "Wij sluiten je melding af.")
    elif action == "reopen":
        workflow.reopen(case, actor, "De student kwam met nieuwe informatie.")
    elif action == "withdraw":
        if actor == REPORTER:
            workflow.withdraw(case, "Ik wil er niet meer mee verder.")
        else:  # the operation only exists for the student; anyone else hits the table
            states._move(case, "withdraw", actor)
    elif action == "assign":
        workflow.assign(case, actor, assignee)
    elif action == "message":
        if actor == REPORTER:
            workflow.student_message(case, "Het was op een dinsdag.")
        else:
            workflow.send_message(case, actor, "Kun je ons bellen?")
    elif action == "note":
        workflow.add_note(case, actor, "Bedrijf gebeld, nog geen reactie.")
    elif action == "link_company":
        workflow.link_company(case, actor, make_company())
    elif action == "request_erasure":
        if actor == REPORTER:
            workflow.request_erasure(case)
        else:  # the operation only exists for the student; anyone else hits the table
            states._require("request_erasure", case, actor)
    elif action == "notice_email":
        if actor == REPORTER:
            workflow.set_notice_email(case, "student@example.org")
        else:  # the operation only exists for the student; anyone else hits the table
            states._require("notice_email", case, actor)
    elif action == "erase":
        workflow.erase(case, actor)
    else:
        pytest.fail(f"this test does not know how to perform {action!r}: teach _perform")


def _snapshot(case: Case) -> dict:
    """Everything a refused step must leave alone, read from the case as it is in memory."""
    state = {
        attr.key: getattr(case, attr.key)
        for attr in sa.inspect(Case).column_attrs
        if attr.key != "updated_at"
    }
    state["messages"] = count(Message, Message.case_id == case.id)
    state["audit events"] = count(AuditEvent)
    state["mails"] = count(OutboxMail)
    return state


def _events_after(event_id: int) -> list[AuditEvent]:
    return db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.id > event_id).order_by(AuditEvent.id)
    ).all()


def _last_event_id() -> int:
    return db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(AuditEvent.id), 0)))


def _mails_after(mail_id: int) -> list[OutboxMail]:
    return db.session.scalars(
        sa.select(OutboxMail).where(OutboxMail.id > mail_id).order_by(OutboxMail.id)
    ).all()


def _last_mail_id() -> int:
    return db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(OutboxMail.id), 0)))


# --- The matrix -------------------------------------------------------------------------


def test_expectation_table_names_every_action_of_the_workflow():
    assert set(EXPECTED) == set(workflow.TRANSITIONS) | set(workflow.CASE_ACTIONS)
    assert set(TARGET) == set(workflow.TRANSITIONS)
    for name, transition in workflow.TRANSITIONS.items():
        assert transition.target == TARGET[name], name


@pytest.mark.parametrize("actor_kind", ACTORS)
@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("status", list(Status))
def test_only_the_right_actor_may_take_a_step_and_only_from_its_states(status, action, actor_kind):
    case, handler = _case_in(status)
    if action == "erase":
        # Erasure's guard beyond the state, met here and tested on its own in test_data_subject.
        case.erasure_requested_at = utcnow()
    actor = _actor(actor_kind, case, handler)
    states, who = EXPECTED[action]
    expected = status in states and actor_kind in who

    assert workflow.can(action, case, actor) is expected
    if actor_kind != "reporter":
        assert (action in workflow.allowed_actions(case, actor)) is (
            expected and action not in workflow.CONSEQUENTIAL
        )

    before = _snapshot(case)
    if expected:
        _perform(action, case, actor, assignee=handler)
        assert case.status == TARGET.get(action, status)
    else:
        with pytest.raises(WorkflowError):
            _perform(action, case, actor, assignee=handler)
        assert _snapshot(case) == before


@pytest.mark.parametrize("status", [S.TRIAGE, S.FOLLOW_UP])
def test_referral_to_the_adv_needs_the_students_consent(status):
    case, handler = _case_in(status)
    assert workflow.can("refer", case, handler)

    case.consent_adv = False
    assert not workflow.can("refer", case, handler)
    before = _snapshot(case)
    with pytest.raises(WorkflowError):
        workflow.refer(case, handler, case.institution.adv, "Samenvatting.", False)
    assert _snapshot(case) == before


@pytest.mark.parametrize("status", [S.TRIAGE, S.FOLLOW_UP])
def test_escalation_to_sbb_needs_a_linked_learning_company(status):
    case, handler = _case_in(status)
    assert workflow.can("escalate", case, handler)

    case.company_id = None
    case.company_text = "Bakkerij De Korenschoof"  # typed, not yet matched to the register
    assert not workflow.can("escalate", case, handler)
    before = _snapshot(case)
    with pytest.raises(WorkflowError):
        workflow.escalate(case, handler, "Samenvatting.", False)
    assert _snapshot(case) == before


def test_deactivated_handler_can_do_nothing_with_their_institutions_cases():
    case, handler = _case_in(S.FOLLOW_UP)
    handler.active = False
    assert workflow.allowed_actions(case, handler) == []
    with pytest.raises(WorkflowError):
        workflow.send_message(case, handler, "Nog even dit.")


# --- Each transition through its operation ----------------------------------------------


@pytest.mark.parametrize(
    ("feedback_months", "acknowledged_at", "feedback_due"),
    [
        (3, datetime(2026, 5, 12, 9, 30), date(2026, 8, 12)),
        (1, datetime(2026, 1, 31, 9, 30), date(2026, 2, 28)),
        (1, datetime(2028, 1, 31, 9, 30), date(2028, 2, 29)),
        # 22:30 UTC on 31 March is already 1 April in the Netherlands.
        (3, datetime(2026, 3, 31, 22, 30), date(2026, 7, 1)),
    ],
)
def test_acknowledging_moves_to_triage_and_sets_the_feedback_deadline(
    monkeypatch, feedback_months, acknowledged_at, feedback_due
):
    institution = make_institution(feedback_months=feedback_months)
    case, handler = _case_in(S.NEW, institution)
    monkeypatch.setattr(operations, "utcnow", lambda: acknowledged_at)

    workflow.acknowledge(case, handler)

    assert case.status == S.TRIAGE
    assert case.acknowledged_at == acknowledged_at
    assert case.feedback_due_on == feedback_due


def test_acknowledging_assigns_the_handler_when_nobody_was_assigned():
    case, handler = _case_in(S.NEW)
    assert case.assigned_to_id is None
    workflow.acknowledge(case, handler)
    assert case.assigned_to_id == handler.id


def test_acknowledging_keeps_the_colleague_already_assigned():
    case, handler = _case_in(S.NEW)
    colleague = make_user(Role.HANDLER, case.institution)
    workflow.assign(case, handler, colleague)
    workflow.acknowledge(case, handler)
    assert case.assigned_to_id == colleague.id


def test_starting_the_follow_up_moves_triage_to_follow_up():
    case, handler = _case_in(S.TRIAGE)
    workflow.start_follow_up(case, handler)
    assert case.status == S.FOLLOW_UP


HANDLER_OUTCOMES = [
    Outcome.RESOLVED,
    Outcome.COMPANY_ADDRESSED,
    Outcome.ADV_CLOSED,
    Outcome.SBB_MEASURE,
    Outcome.NO_ACTION_WANTED,
    Outcome.NOT_SUBSTANTIATED,
    Outcome.OUT_OF_SCOPE,
    Outcome.DUPLICATE,
]


@pytest.mark.parametrize("outcome", HANDLER_OUTCOMES)
def test_handler_closes_a_followed_up_case_with_any_handler_outcome(outcome):
    case, handler = _case_in(S.FOLLOW_UP)
    original = make_case(case.institution)[0] if outcome == Outcome.DUPLICATE else None

    workflow.close(case, handler, outcome, "  Bedankt voor je melding.  ", duplicate_of=original)

    assert case.status == S.CLOSED
    assert case.outcome == outcome
    assert case.closed_at is not None
    assert case.duplicate_of_id == (original.id if original else None)
    closing = case.messages[-1]
    assert (closing.kind, closing.body, closing.is_feedback) == (
        Message.TO_STUDENT,
        "Bedankt voor je melding.",
        True,
    )


def test_handler_cannot_close_as_withdrawn_on_the_students_behalf():
    case, handler = _case_in(S.FOLLOW_UP)
    with pytest.raises(WorkflowError) as refused:
        workflow.close(case, handler, Outcome.WITHDRAWN, "De student wil stoppen.")
    assert refused.value.field == "outcome"
    assert case.status == S.FOLLOW_UP and case.outcome is None


@pytest.mark.parametrize("outcome", list(Outcome))
@pytest.mark.parametrize("status", [S.NEW, S.TRIAGE])
def test_before_follow_up_a_case_closes_only_as_out_of_scope_or_duplicate(status, outcome):
    case, handler = _case_in(status)
    original = make_case(case.institution)[0]
    allowed = outcome in (Outcome.OUT_OF_SCOPE, Outcome.DUPLICATE)

    if allowed:
        workflow.close(case, handler, outcome, "Afgesloten.", duplicate_of=original)
        assert (case.status, case.outcome) == (S.CLOSED, outcome)
    else:
        before = _snapshot(case)
        with pytest.raises(WorkflowError) as refused:
            workflow.close(case, handler, outcome, "Afgesloten.", duplicate_of=original)
        assert refused.value.field == "outcome"
        assert _snapshot(case) == before


@pytest.mark.parametrize("outcome", list(Outcome))
def test_a_referred_case_closes_with_any_outcome_the_handler_may_choose(outcome):
    case, handler = _case_in(S.REFERRED)
    original = make_case(case.institution)[0]
    if outcome == Outcome.WITHDRAWN:
        with pytest.raises(WorkflowError):
            workflow.close(case, handler, outcome, "Afgesloten.", duplicate_of=original)
        assert case.status == S.REFERRED
    else:
        workflow.close(case, handler, outcome, "Afgesloten.", duplicate_of=original)
        assert (case.status, case.outcome) == (S.CLOSED, outcome)


def test_an_escalated_case_waits_for_sbbs_decision_before_it_closes():
    case, handler = _case_in(S.ESCALATED)
    assert not workflow.can("close", case, handler)
    before = _snapshot(case)
    with pytest.raises(WorkflowError):
        workflow.close(case, handler, Outcome.SBB_MEASURE, "Afgesloten.")
    assert _snapshot(case) == before


@pytest.mark.parametrize("which", ["none", "itself", "other_institutions_case"])
def test_a_duplicate_must_point_at_another_case_of_the_same_institution(which):
    case, handler = _case_in(S.TRIAGE)
    duplicate_of = {
        "none": None,
        "itself": case,
        "other_institutions_case": make_case(make_institution())[0],
    }[which]
    before = _snapshot(case)

    with pytest.raises(WorkflowError) as refused:
        workflow.close(case, handler, Outcome.DUPLICATE, "Dubbel.", duplicate_of=duplicate_of)

    assert refused.value.field == "duplicate_of"
    assert _snapshot(case) == before


def test_a_duplicate_links_to_the_original_case():
    case, handler = _case_in(S.TRIAGE)
    original = make_case(case.institution)[0]
    workflow.close(case, handler, Outcome.DUPLICATE, "Dubbel gemeld.", duplicate_of=original)
    assert case.duplicate_of_id == original.id


@pytest.mark.parametrize("message", ["", "   \n  "])
def test_closing_requires_a_message_to_the_student(message):
    case, handler = _case_in(S.FOLLOW_UP)
    before = _snapshot(case)
    with pytest.raises(WorkflowError) as refused:
        workflow.close(case, handler, Outcome.RESOLVED, message)
    assert refused.value.field == "message"
    assert _snapshot(case) == before


@pytest.mark.parametrize("reason", ["", "  \n "])
def test_reopening_requires_a_reason(reason):
    case, handler = _case_in(S.CLOSED)
    before = _snapshot(case)
    with pytest.raises(WorkflowError) as refused:
        workflow.reopen(case, handler, reason)
    assert refused.value.field == "reason"
    assert _snapshot(case) == before


def test_reopening_clears_the_outcome_and_keeps_the_reason_as_a_note():
    case, handler = _case_in(S.TRIAGE)
    original = make_case(case.institution)[0]
    workflow.close(case, handler, Outcome.DUPLICATE, "Dubbel.", duplicate_of=original)

    workflow.reopen(case, handler, "Toch geen dubbele melding.")

    assert case.status == S.FOLLOW_UP
    assert (case.outcome, case.closed_at, case.duplicate_of_id) == (None, None, None)
    assert case.feedback_due_on is not None
    note = case.messages[-1]
    assert (note.kind, note.body) == (Message.NOTE, "Toch geen dubbele melding.")


@pytest.mark.parametrize("status", sorted(OPEN))
def test_student_withdraws_from_every_open_state(status):
    case, _handler = _case_in(status)

    workflow.withdraw(case, "Het is opgelost met mijn begeleider.")

    assert case.status == S.CLOSED
    assert case.outcome == Outcome.WITHDRAWN
    assert case.closed_at is not None
    reason = case.messages[-1]
    assert (reason.kind, reason.body) == (
        Message.FROM_STUDENT,
        "Het is opgelost met mijn begeleider.",
    )


# Where each step is taken from in the audit test, and what it is written down as.
STEP_SOURCE = {
    "acknowledge": S.NEW,
    "start_follow_up": S.TRIAGE,
    "refer": S.TRIAGE,
    "return_from_referral": S.REFERRED,
    "escalate": S.FOLLOW_UP,
    "return_from_escalation": S.ESCALATED,
    "close": S.FOLLOW_UP,
    "reopen": S.CLOSED,
    "withdraw": S.TRIAGE,
}


@pytest.mark.parametrize("name", list(workflow.TRANSITIONS))
def test_each_transition_writes_exactly_one_audit_event_with_from_and_to(name):
    case, handler = _case_in(STEP_SOURCE[name])
    actor = {"withdraw": REPORTER, "return_from_escalation": make_user(Role.SBB_REVIEWER)}.get(
        name, handler
    )
    last = _last_event_id()

    _perform(name, case, actor)

    events = _events_after(last)
    assert [e.action for e in events] == [EVENT[name]]
    details = json.loads(events[0].details)
    assert (details["from_status"], details["to_status"]) == (STEP_SOURCE[name], TARGET[name])
    assert events[0].case_id == case.id
    assert events[0].institution_id == case.institution_id
    if actor == REPORTER:
        assert (events[0].actor_type, events[0].actor_id) == ("reporter", None)
    else:
        assert (events[0].actor_type, events[0].actor_id) == ("user", actor.id)


@pytest.mark.parametrize(
    ("action", "actor_kind", "recorded_as"),
    [
        ("assign", OWN_HANDLER, "case.assigned"),
        ("message", OWN_HANDLER, "case.message_sent"),
        ("message", "reporter", "case.student_message_added"),
        ("note", OWN_HANDLER, "case.note_added"),
    ],
)
def test_each_case_action_writes_exactly_one_audit_event(action, actor_kind, recorded_as):
    case, handler = _case_in(S.FOLLOW_UP)
    last = _last_event_id()
    _perform(action, case, REPORTER if actor_kind == "reporter" else handler, assignee=None)
    assert [e.action for e in _events_after(last)] == [recorded_as]


def test_no_audit_event_holds_the_narrative_a_message_or_the_students_identity():
    institution = make_institution()
    handler = make_user(Role.HANDLER, institution)
    case, _code = make_case(
        institution,
        narrative="UNIEK-VERHAAL de praktijkopleider lachte om mijn hoofddoek",
        is_anonymous=False,
        reporter_name="UNIEK-NAAM Fatima",
        email="uniek-adres@example.org",
    )
    case.notify_email = "uniek-notice@example.org"
    secrets = [
        "UNIEK-VERHAAL",
        "UNIEK-NAAM",
        "uniek-adres@",
        "uniek-notice@",
        "UNIEK-BERICHT",
        "UNIEK-ANTWOORD",
        "UNIEK-NOTITIE",
        "UNIEK-AFSLUITING",
        "UNIEK-REDEN",
        "UNIEK-INTREKKING",
    ]
    workflow.acknowledge(case, handler)
    workflow.start_follow_up(case, handler)
    workflow.send_message(case, handler, "UNIEK-BERICHT wanneer was dit?", is_feedback=True)
    workflow.student_message(case, "UNIEK-ANTWOORD vorige week")
    workflow.add_note(case, handler, "UNIEK-NOTITIE bedrijf gebeld")
    workflow.close(case, handler, Outcome.RESOLVED, "UNIEK-AFSLUITING dank je wel")
    workflow.reopen(case, handler, "UNIEK-REDEN er is meer gebeurd")
    workflow.withdraw(case, "UNIEK-INTREKKING ik stop")

    events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.case_id == case.id)).all()
    assert len(events) >= 9
    for event in events:
        for secret in secrets:
            assert secret.lower() not in event.details.lower(), (event.action, secret)


# --- Deadlines ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("submitted_at", "working_days", "due"),
    [
        # Thursday 23 April 2026: the weekend and King's Day (Monday 27 April) do not count.
        (datetime(2026, 4, 23, 10, 0), 5, date(2026, 5, 1)),
        (datetime(2026, 4, 23, 10, 0), 2, date(2026, 4, 28)),
        # 22:30 UTC on Thursday is Friday in the Netherlands.
        (datetime(2026, 4, 23, 22, 30), 5, date(2026, 5, 4)),
        # Christmas: Friday 25 December and the weekend do not count.
        (datetime(2026, 12, 23, 12, 0), 2, date(2026, 12, 28)),
        # Submitted on a Saturday: counting starts on Monday.
        (datetime(2026, 6, 6, 12, 0), 1, date(2026, 6, 8)),
        # The EU whistleblowing directive's seven days, set per institution.
        (datetime(2026, 6, 1, 12, 0), 7, date(2026, 6, 10)),
    ],
)
def test_acknowledgement_is_due_working_days_after_submission(
    monkeypatch, submitted_at, working_days, due
):
    institution = make_institution(ack_working_days=working_days)
    monkeypatch.setattr(operations, "utcnow", lambda: submitted_at)

    case, _code = make_case(institution)

    assert case.submitted_at == submitted_at
    assert case.ack_due_on == due


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 3, 31), 3, date(2026, 6, 30)),
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
        (date(2026, 5, 15), 12, date(2027, 5, 15)),
    ],
)
def test_adding_months_clamps_to_the_end_of_a_shorter_month(start, months, expected):
    assert deadlines.add_months(start, months) == expected


def test_acknowledgement_is_overdue_only_after_its_due_date_and_only_while_new():
    case, handler = _case_in(S.NEW)
    due = case.ack_due_on

    assert not case.ack_overdue(due - timedelta(days=1))
    assert not case.ack_overdue(due)
    assert case.ack_overdue(due + timedelta(days=1))
    assert case.is_overdue(due + timedelta(days=1))

    workflow.acknowledge(case, handler)
    assert not case.ack_overdue(due + timedelta(days=1))
    assert not case.is_overdue(due + timedelta(days=1))


@pytest.mark.parametrize("status", [S.TRIAGE, S.FOLLOW_UP, S.REFERRED, S.ESCALATED])
def test_feedback_is_overdue_only_after_its_due_date_while_in_progress(status):
    case, handler = _case_in(status)
    due = case.feedback_due_on

    assert not case.feedback_overdue(due)
    assert case.feedback_overdue(due + timedelta(days=1))
    assert case.is_overdue(due + timedelta(days=1))

    workflow.send_message(case, handler, "Dit hebben we gedaan.", is_feedback=True)
    assert not case.feedback_overdue(due + timedelta(days=1))


def test_feedback_is_never_overdue_for_a_new_or_closed_case():
    new_case, _handler = _case_in(S.NEW)
    new_case.feedback_due_on = date(2026, 1, 1)  # even with a date in the past
    assert not new_case.feedback_overdue(date(2030, 1, 1))

    withdrawn, _handler = _case_in(S.TRIAGE)
    workflow.withdraw(withdrawn)
    assert withdrawn.feedback_at is None and withdrawn.feedback_due_on is not None
    assert not withdrawn.feedback_overdue(withdrawn.feedback_due_on + timedelta(days=1))


def test_a_message_marked_as_feedback_records_when_feedback_was_given(monkeypatch):
    case, handler = _case_in(S.FOLLOW_UP)

    workflow.send_message(case, handler, "Een vraag tussendoor.")
    assert case.feedback_at is None

    first = datetime(2026, 6, 1, 10, 0)
    monkeypatch.setattr(operations, "utcnow", lambda: first)
    workflow.send_message(case, handler, "Wij hebben het bedrijf gesproken.", is_feedback=True)
    assert case.feedback_at == first

    monkeypatch.setattr(operations, "utcnow", lambda: datetime(2026, 7, 1, 10, 0))
    workflow.send_message(case, handler, "Nog een aanvulling.", is_feedback=True)
    assert case.feedback_at == first  # the first feedback met the deadline


def test_closing_counts_as_feedback():
    case, handler = _case_in(S.TRIAGE)
    assert case.feedback_at is None
    workflow.close(case, handler, Outcome.OUT_OF_SCOPE, "Dit hoort bij een andere school.")
    assert case.feedback_at is not None


# --- Mail --------------------------------------------------------------------------------

# The step, where it is taken from, and the text the handler writes with it.
NEWS_FOR_THE_STUDENT = [
    ("acknowledge", S.NEW, None),
    ("start_follow_up", S.TRIAGE, None),
    ("message", S.FOLLOW_UP, "GEHEIM-BERICHT wanneer kun je langskomen?"),
    ("close", S.FOLLOW_UP, "GEHEIM-AFSLUITING we hebben het bedrijf gesproken"),
    ("reopen", S.CLOSED, "GEHEIM-REDEN de student belde opnieuw"),
]


def _take_step_with_text(step, case, handler, text):
    if step == "message":
        workflow.send_message(case, handler, text)
    elif step == "close":
        workflow.close(case, handler, Outcome.RESOLVED, text)
    elif step == "reopen":
        workflow.reopen(case, handler, text)
    else:
        _perform(step, case, handler)


@pytest.mark.parametrize(("step", "status", "text"), NEWS_FOR_THE_STUDENT)
def test_student_with_a_notice_address_gets_one_mail_per_news_without_its_content(
    step, status, text
):
    case, handler = _case_in(status)
    case.notify_email = STUDENT_ADDRESS
    last = _last_mail_id()

    _take_step_with_text(step, case, handler, text)

    mails = _mails_after(last)
    assert [(m.recipient, m.purpose) for m in mails] == [(STUDENT_ADDRESS, "student_news")]
    for part in (mails[0].subject, mails[0].body):
        assert NARRATIVE not in part
        if text:
            assert text not in part
            assert text.split()[0] not in part


@pytest.mark.parametrize(("step", "status", "text"), NEWS_FOR_THE_STUDENT)
def test_student_without_a_notice_address_gets_no_mail(step, status, text):
    case, handler = _case_in(status)
    assert case.notify_email is None
    last = _last_mail_id()
    _take_step_with_text(step, case, handler, text)
    assert _mails_after(last) == []


def test_internal_notes_and_assignments_do_not_mail_the_student():
    case, handler = _case_in(S.FOLLOW_UP)
    case.notify_email = STUDENT_ADDRESS
    last = _last_mail_id()
    workflow.add_note(case, handler, "Alleen voor ons.")
    workflow.assign(case, handler, make_user(Role.HANDLER, case.institution))
    assert _mails_after(last) == []


def test_each_active_handler_of_the_institution_gets_one_mail_about_a_new_case():
    institution = make_institution()
    first = make_user(Role.HANDLER, institution)
    second = make_user(Role.HANDLER, institution)
    make_user(Role.HANDLER, institution, active=False)
    make_user(Role.INSTITUTION_ADMIN, institution)
    make_user(Role.HANDLER, make_institution())
    make_user(Role.SBB_REVIEWER)
    last = _last_mail_id()

    case, code = make_case(institution, narrative=NARRATIVE)

    mails = _mails_after(last)
    assert sorted(m.recipient for m in mails) == sorted([first.email, second.email])
    for mail in mails:
        assert mail.purpose == "handler_new_case"
        assert case.number in mail.subject
        assert NARRATIVE not in mail.body
        assert code not in mail.body


def test_reopening_owes_the_student_feedback_again():
    institution = make_institution()
    handler = make_user(institution=institution)
    case, _ = make_case(institution)
    workflow.acknowledge(case, handler)
    workflow.start_follow_up(case, handler)
    workflow.close(case, handler, Outcome.RESOLVED, "Opgelost.")
    assert case.feedback_at is not None

    workflow.reopen(case, handler, "De student belde: het gebeurt weer.")

    assert case.feedback_at is None
    assert case.feedback_due_on > deadlines.local_date(case.acknowledged_at)
    assert case.feedback_overdue(case.feedback_due_on + timedelta(days=1))


def test_closing_a_new_case_does_not_pretend_it_was_acknowledged():
    institution = make_institution()
    handler = make_user(institution=institution)
    case, _ = make_case(institution)

    workflow.close(case, handler, Outcome.OUT_OF_SCOPE, "Dit hoort niet bij het meldpunt.")

    assert case.acknowledged_at is None and case.status == Status.CLOSED


def test_case_numbers_are_the_year_and_a_random_tail_that_tells_no_volume(app):
    institution = make_institution()
    numbers = [make_case(institution)[0].number for _ in range(40)]
    year = utcnow().year
    alphabet = set(operations.NUMBER_ALPHABET)
    for number in numbers:
        prefix, tail = number.split("-")
        assert prefix == str(year) and len(tail) == operations.NUMBER_LENGTH
        assert set(tail) <= alphabet
    assert len(set(numbers)) == len(numbers)
    # Not a counter: the order of submission is not the order of the numbers.
    assert numbers != sorted(numbers)


def test_a_drawn_number_already_taken_at_the_institution_is_drawn_again(app, monkeypatch):
    institution = make_institution()
    taken = make_case(institution)[0].number
    tails = iter(taken.split("-")[1] + "ABCDEF")
    monkeypatch.setattr(operations.secrets, "choice", lambda alphabet: next(tails))
    assert workflow.new_case_number(institution.id, int(taken[:4])) == f"{taken[:4]}-ABCDEF"
