"""Dates SBB sets act when they come, through the scheduled job `sbb-dates` (issue 15):
a suspension ends the day after its last day and the company's recognition returns to
what it was, with history and an audit event; improvement agreements that fall due
remind SBB once, and the investigation says they need checking."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
import time_machine

from stagepact import deadlines, investigations, workflow
from stagepact.extensions import db
from stagepact.models import Company, Investigation, JobRun, OutboxMail, RecognitionChange
from stagepact.vocab import Decision, Recognition, Role
from tests.factories import make_case, make_company, make_institution, make_user
from tests.helpers import audit_events, page_text, reloaded

REASONING = "Het bedrijf weigerde studenten met een hoofddoek; dat is vastgesteld."
CONDITIONS = "Het bedrijf volgt een training gelijke behandeling."


def _decided(decision: Decision, **dates) -> tuple[Investigation, object]:
    institution = make_institution()
    handler = make_user(Role.HANDLER, institution)
    reviewer = make_user(Role.SBB_REVIEWER)
    company = make_company(recognition_status=Recognition.UNDER_CONDITIONS)
    case, _code = make_case(institution, consent_sbb=True, company_id=company.id)
    workflow.acknowledge(case, handler)
    investigation = workflow.escalate(case, handler, "Samenvatting.", False)
    investigations.start(investigation, reviewer)
    investigations.decide(investigation, reviewer, decision, REASONING, **dates)
    db.session.commit()
    return investigation, reviewer


def _status(company_id: int) -> Recognition:
    db.session.expire_all()
    return db.session.get(Company, company_id).recognition_status


def test_a_suspension_ends_the_day_after_its_last_day():
    last_day = deadlines.today() + timedelta(days=30)
    investigation, _reviewer = _decided(Decision.SUSPENSION, suspended_until=last_day)
    company_id = investigation.company_id
    assert _status(company_id) == Recognition.SUSPENDED

    assert investigations.end_suspensions(last_day) == 0  # the last day still counts
    assert _status(company_id) == Recognition.SUSPENDED

    assert investigations.end_suspensions(last_day + timedelta(days=1)) == 1
    db.session.commit()
    assert investigations.end_suspensions(last_day + timedelta(days=2)) == 0  # only once

    assert _status(company_id) == Recognition.UNDER_CONDITIONS  # what it was before
    latest = db.session.scalars(
        sa.select(RecognitionChange)
        .where(RecognitionChange.company_id == company_id)
        .order_by(RecognitionChange.id.desc())
    ).first()
    assert (latest.from_status, latest.to_status, latest.cause) == (
        Recognition.SUSPENDED,
        Recognition.UNDER_CONDITIONS,
        "suspension_ended",
    )
    assert latest.changed_by_id is None and latest.investigation_id == investigation.id
    [ended] = audit_events("investigation.suspension_ended")
    assert ended.actor_type == "system" and '"applied": true' in ended.details
    assert audit_events("company.recognition_changed")[-1].actor_type == "system"
    assert reloaded(investigation).suspension_ended_at is not None


def test_a_suspension_a_later_decision_replaced_is_left_alone():
    last_day = deadlines.today() + timedelta(days=10)
    investigation, reviewer = _decided(Decision.SUSPENSION, suspended_until=last_day)
    company = db.session.get(Company, investigation.company_id)
    investigations.set_recognition(
        company, Recognition.REVOKED, reviewer, "decision_revocation", "Ingetrokken.", None
    )
    db.session.commit()

    assert investigations.end_suspensions(last_day + timedelta(days=1)) == 1

    assert _status(company.id) == Recognition.REVOKED
    [ended] = audit_events("investigation.suspension_ended")
    assert '"applied": false' in ended.details


def test_the_scheduled_job_ends_a_suspension_on_its_date_and_records_its_run(runner, client, auth):
    last_day = deadlines.today() + timedelta(days=5)
    investigation, reviewer = _decided(Decision.SUSPENSION, suspended_until=last_day)

    with time_machine.travel(last_day + timedelta(days=1, hours=12), tick=False):
        result = runner.invoke(args=["stagepact", "sbb-dates"])

    assert result.exit_code == 0, result.output
    assert "1 schorsing(en) afgelopen" in result.output
    assert _status(investigation.company_id) == Recognition.UNDER_CONDITIONS
    db.session.expire_all()
    assert db.session.get(JobRun, "sbb-dates").outcome == "ok"
    auth.login(reviewer)
    page = page_text(client.get(f"/sbb/bedrijven/{investigation.company_id}"))
    assert "automatisch, op de einddatum" in page


def test_improvement_agreements_that_fall_due_remind_sbb_once_and_show_on_the_investigation(
    client, auth
):
    due_on = deadlines.today() + timedelta(days=60)
    investigation, reviewer = _decided(
        Decision.IMPROVEMENT, conditions=CONDITIONS, conditions_due_on=due_on
    )
    other_reviewer = make_user(Role.SBB_REVIEWER)
    db.session.commit()
    auth.login(reviewer)
    url = f"/sbb/onderzoeken/{investigation.id}"
    assert "Verbeterafspraken verlopen" not in page_text(client.get(url))

    assert investigations.remind_agreements_due(due_on - timedelta(days=1)) == 0
    assert investigations.remind_agreements_due(due_on) == 1
    db.session.commit()
    assert investigations.remind_agreements_due(due_on + timedelta(days=1)) == 0

    mails = db.session.scalars(
        sa.select(OutboxMail).where(OutboxMail.purpose == "sbb_agreements_due")
    ).all()
    assert sorted(m.recipient for m in mails) == sorted([reviewer.email, other_reviewer.email])
    assert all(investigation.reference in m.subject and CONDITIONS not in m.body for m in mails)
    assert len(audit_events("investigation.agreements_reminded")) == 1
    with time_machine.travel(due_on + timedelta(hours=12), tick=False):
        auth.login(reviewer)  # sixty days on: a new session
        assert "Verbeterafspraken verlopen: controleren" in page_text(client.get(url))

    investigations.close(reloaded(investigation), reviewer)
    db.session.commit()
    with time_machine.travel(due_on + timedelta(hours=12), tick=False):
        auth.login(reviewer)
        page = page_text(client.get(url))
        assert "Voorwaarden" in page and "Verbeterafspraken verlopen" not in page
