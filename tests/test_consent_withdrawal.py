"""A consent taken back after the escalation reaches SBB's copy of the case."""

from __future__ import annotations

import sqlalchemy as sa

from stagepact import workflow
from stagepact.extensions import db
from stagepact.models import AuditEvent, Investigation
from stagepact.vocab import ConsentKind, ConsentSource, Role
from tests.factories import make_case, make_company, make_institution, make_user


def _escalated_with_name():
    institution = make_institution()
    handler = make_user(Role.HANDLER, institution)
    case = make_case(
        institution,
        is_anonymous=False,
        reporter_name="Yasmina El Idrissi",
        email="yasmina@example.org",
        phone="0612345678",
        consent_sbb=True,
        consent_sbb_identity=True,
    )[0]
    workflow.acknowledge(case, handler)
    workflow.link_company(case, handler, make_company())
    investigation = workflow.escalate(case, handler, "Samenvatting zonder namen.", True)
    assert investigation.student_name == "Yasmina El Idrissi"
    return case, handler, investigation


def _identity(investigation: Investigation):
    db.session.commit()
    db.session.expire_all()
    fresh = db.session.get(Investigation, investigation.id)
    return fresh.shares_identity, fresh.student_name, fresh.student_email, fresh.student_phone


def test_withdrawing_the_name_consent_removes_the_name_sbb_holds():
    case, handler, investigation = _escalated_with_name()

    workflow.record_consent(case, handler, ConsentKind.SBB_IDENTITY, False, ConsentSource.HANDLER)

    assert _identity(investigation) == (False, None, None, None)
    actions = db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-1] == "investigation.identity_removed"


def test_withdrawing_the_sbb_consent_takes_the_name_with_it():
    case, handler, investigation = _escalated_with_name()

    workflow.record_consent(case, handler, ConsentKind.SBB, False, ConsentSource.HANDLER)

    assert not case.consent_sbb and not case.consent_sbb_identity
    assert _identity(investigation) == (False, None, None, None)
    # The pseudonymised summary was shared lawfully and stays with SBB.
    assert db.session.get(Investigation, investigation.id).summary == "Samenvatting zonder namen."


def test_other_consents_leave_sbbs_copy_alone():
    case, handler, investigation = _escalated_with_name()

    workflow.record_consent(case, handler, ConsentKind.ADV, True, ConsentSource.HANDLER)

    assert _identity(investigation)[:2] == (True, "Yasmina El Idrissi")
