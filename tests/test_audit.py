"""The audit trail: a hash chain that notices any change, and never holds personal content."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from stagepact import audit, workflow
from stagepact.cli import stagepact_cli
from stagepact.extensions import db
from stagepact.models import AuditEvent, AuditHead, Case
from stagepact.vocab import Outcome, Status
from tests.factories import make_case, make_institution, make_user
from tests.helpers import count

# Every column of an event but its id: what a swap exchanges.
EVENT_COLUMNS = [c.name for c in AuditEvent.__table__.columns if c.name != "id"]

has_audit_verify = pytest.mark.skipif(
    "audit-verify" not in stagepact_cli.commands,
    reason="the audit-verify command is not there yet",
)


def _realistic_history(client, auth) -> list[int]:
    """Cases, transitions, messages, logins and a failed login; return the event ids."""
    institution = make_institution()
    handler = make_user(institution=institution)
    other_handler = make_user(institution=make_institution())
    auth.login(handler)
    auth.logout()
    client.post("/inloggen", data={"email": handler.email, "password": "wrong password!"})
    auth.login(other_handler)
    auth.logout()

    first, _ = make_case(institution)
    second, _ = make_case(institution, narrative="Ze lachten om mijn accent.")
    workflow.acknowledge(first, handler)
    workflow.start_follow_up(first, handler)
    workflow.send_message(first, handler, "Wil je langskomen?")
    workflow.add_note(first, handler, "Bedrijf gebeld.")
    workflow.close(first, handler, Outcome.RESOLVED, "We hebben het opgelost.")
    workflow.reopen(first, handler, "De student meldde zich opnieuw.")
    workflow.acknowledge(second, handler)
    workflow.close(second, handler, Outcome.OUT_OF_SCOPE, "Dit valt buiten het meldpunt.")
    db.session.commit()
    return list(db.session.scalars(sa.select(AuditEvent.id).order_by(AuditEvent.id)))


def _execute(sql: str, **params) -> None:
    """Raw SQL past the ORM, as someone with database access would tamper."""
    db.session.execute(sa.text(sql), params)
    db.session.commit()


def _row(event_id: int) -> dict:
    columns = ", ".join(EVENT_COLUMNS)
    return dict(
        db.session.execute(
            sa.text(f"SELECT {columns} FROM audit_event WHERE id = :id"),  # noqa: S608 (model columns)
            {"id": event_id},
        )
        .mappings()
        .one()
    )


def _overwrite(event_id: int, values: dict) -> None:
    assignments = ", ".join(f"{name} = :{name}" for name in values)
    db.session.execute(
        sa.text(f"UPDATE audit_event SET {assignments} WHERE id = :event_id"),  # noqa: S608 (model columns)
        {**values, "event_id": event_id},
    )


def _swap(first_id: int, second_id: int) -> None:
    """Exchange every column but the id of two events (the hash is unique: park one first)."""
    first, second = _row(first_id), _row(second_id)
    _overwrite(first_id, {"hash": "parked"})
    _overwrite(second_id, first)
    _overwrite(first_id, second)
    db.session.commit()


def test_chain_is_intact_after_cases_transitions_and_logins(client, auth):
    ids = _realistic_history(client, auth)

    checked, problem = audit.verify_chain()

    assert problem is None
    assert checked == len(ids) >= 15
    actions = set(db.session.scalars(sa.select(AuditEvent.action)))
    assert {"auth.logged_in", "auth.login_failed", "auth.logged_out", "case.submitted"} <= actions
    assert {"case.acknowledged", "case.closed", "case.reopened", "case.note_added"} <= actions
    head = db.session.get(AuditHead, 1)
    assert head.event_count == len(ids) and head.last_event_id == ids[-1]


def test_chain_is_verified_across_batches(client, auth):
    ids = _realistic_history(client, auth)
    target = ids[7]
    _execute("UPDATE audit_event SET action = 'case.viewed' WHERE id = :id", id=target)

    checked, problem = audit.verify_chain(batch_size=3)

    assert problem is not None and problem.event_id == target
    assert checked == ids.index(target)


@pytest.mark.parametrize(
    "column, change",
    [
        ("details", lambda old: '{"anonymous": false}'),
        ("action", lambda old: "case.viewed"),
        ("created_at", lambda old: old + timedelta(seconds=1)),
        ("case_id", lambda old: None),
        ("actor_type", lambda old: "system"),
    ],
)
def test_changed_event_is_named(client, auth, column, change):
    ids = _realistic_history(client, auth)
    target = ids[len(ids) // 2]
    old = getattr(db.session.get(AuditEvent, target), column)
    new = change(old)
    assert new != old
    param = sa.bindparam("value", type_=AuditEvent.__table__.c[column].type)
    db.session.execute(
        sa.text(f"UPDATE audit_event SET {column} = :value WHERE id = :id").bindparams(  # noqa: S608 (a model column)
            param
        ),
        {"value": new, "id": target},
    )
    db.session.commit()

    checked, problem = audit.verify_chain()

    assert problem is not None
    assert problem.event_id == target
    assert "changed" in problem.reason
    assert checked == ids.index(target)


def test_deleted_event_in_the_middle_names_the_event_after_it(client, auth):
    ids = _realistic_history(client, auth)
    removed = ids[len(ids) // 2]
    _execute("DELETE FROM audit_event WHERE id = :id", id=removed)

    _, problem = audit.verify_chain()

    assert problem is not None
    assert problem.event_id == ids[ids.index(removed) + 1]
    assert "removed" in problem.reason


def test_deleted_last_event_is_caught_by_the_audit_head(client, auth):
    ids = _realistic_history(client, auth)
    _execute("DELETE FROM audit_event WHERE id = :id", id=ids[-1])

    checked, problem = audit.verify_chain()

    # What is left still chains perfectly; only the head remembers the lost end.
    assert checked == len(ids) - 1
    assert problem is not None
    assert problem.event_id == ids[-1]
    assert "end of the chain" in problem.reason


def test_two_swapped_events_name_the_first_of_them(client, auth):
    ids = _realistic_history(client, auth)
    first, second = ids[3], ids[-4]
    _swap(first, second)

    _, problem = audit.verify_chain()

    assert problem is not None
    assert problem.event_id == first


@has_audit_verify
def test_audit_verify_command_exits_zero_on_an_intact_chain(client, auth, runner):
    ids = _realistic_history(client, auth)

    result = runner.invoke(args=["stagepact", "audit-verify"])

    assert result.exit_code == 0, result.output
    assert str(len(ids)) in result.output


@has_audit_verify
def test_audit_verify_command_fails_naming_the_changed_event(client, auth, runner):
    ids = _realistic_history(client, auth)
    target = ids[5]
    _execute("UPDATE audit_event SET details = '{}' WHERE id = :id", id=target)

    result = runner.invoke(args=["stagepact", "audit-verify"])

    assert result.exit_code != 0
    assert re.search(rf"\b{target}\b", result.output), result.output


@has_audit_verify
def test_audit_verify_command_fails_when_the_last_event_is_gone(client, auth, runner):
    ids = _realistic_history(client, auth)
    _execute("DELETE FROM audit_event WHERE id = :id", id=ids[-1])

    result = runner.invoke(args=["stagepact", "audit-verify"])

    assert result.exit_code != 0
    assert re.search(rf"\b{ids[-1]}\b", result.output), result.output


def test_audit_details_never_hold_the_narrative_names_emails_or_messages(client, auth):
    personal = {
        "narrative": "Quirijntje-verhaal: de chef noemde mij een Zwartkop-xq7.",
        "reporter_name": "Ysolde Quarendonk",
        "student_number": "SNQ778812",
        "email": "ysolde.quarendonk@voorbeeld.nl",
        "phone": "+31 6 13572468",
        "notify_email": "ysolde.nieuws@voorbeeld.nl",
        "student_message": "Het was op dinsdag bij Bakkerij Vlierboom-xq7.",
        "handler_message": "Mag ik je bellen over Vlierboom-antwoord-xq7?",
        "note": "Interne notitie Wolkenkrabber-xq7.",
        "closing": "Afsluitbericht Zeppelinkoers-xq7.",
        "reopen": "Heropend om Kameleonreden-xq7.",
        "withdraw": "Ingetrokken want Pimpelmees-xq7.",
        "unknown_login": "niemand.bestaat-xq7@voorbeeld.nl",
    }
    institution = make_institution()
    handler = make_user(institution=institution)
    db.session.commit()
    student = client.application.test_client()
    student.post(
        f"/meldpunt/{institution.slug}/melden",
        data={
            "narrative": personal["narrative"],
            "reporter_role": "self",
            "anonymity": "named",
            "reporter_name": personal["reporter_name"],
            "student_number": personal["student_number"],
            "email": personal["email"],
            "phone": personal["phone"],
            "contact_preference": "email",
            "grounds": ["origin"],
        },
    )
    student.post(
        "/volgen/melding/meldingen-per-mail", data={"notify_email": personal["notify_email"]}
    )
    case = db.session.scalar(sa.select(Case))
    assert case is not None and case.reporter_name == personal["reporter_name"]

    client.post("/inloggen", data={"email": personal["unknown_login"], "password": "x" * 12})
    auth.login(handler)
    client.get(f"/behandelen/zaken/{case.id}")
    client.post(f"/behandelen/zaken/{case.id}/bevestigen")
    client.post(f"/behandelen/zaken/{case.id}/opvolgen")
    client.post(f"/behandelen/zaken/{case.id}/bericht", data={"body": personal["handler_message"]})
    client.post(f"/behandelen/zaken/{case.id}/notitie", data={"note-body": personal["note"]})
    student.post("/volgen/melding/bericht", data={"body": personal["student_message"]})
    client.post(
        f"/behandelen/zaken/{case.id}/afsluiten",
        data={"outcome": "resolved", "message": personal["closing"]},
    )
    client.post(f"/behandelen/zaken/{case.id}/heropenen", data={"reason": personal["reopen"]})
    student.post("/volgen/melding/intrekken", data={"reason": personal["withdraw"], "confirm": "y"})

    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert case.status == Status.CLOSED and case.outcome == Outcome.WITHDRAWN
    events = db.session.execute(sa.text("SELECT * FROM audit_event")).all()
    actions = {row.action for row in events}
    assert {
        "case.note_added",
        "case.student_message_added",
        "case.reopened",
        "case.withdrawn",
    } <= actions
    assert {"case.message_sent", "case.notice_email_set", "auth.login_failed"} <= actions
    stored = "\n".join(" ".join(str(value) for value in row) for row in events).lower()
    for name, value in personal.items():
        assert value.lower() not in stored, f"{name} is in the audit trail"
    assert "xq7" not in stored
    assert audit.verify_chain()[1] is None


def test_event_rolls_back_with_the_change_it_describes():
    institution = make_institution()
    handler = make_user(institution=institution)
    case, _ = make_case(institution)
    db.session.commit()
    events_before = count(AuditEvent)

    workflow.acknowledge(case, handler)
    db.session.flush()
    assert count(AuditEvent) == events_before + 1  # it was there, in the open transaction
    db.session.rollback()

    db.session.expire_all()
    assert db.session.get(Case, case.id).status == Status.NEW
    assert count(AuditEvent) == events_before
    assert (
        db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "case.acknowledged"))
        is None
    )
    assert db.session.get(AuditHead, 1).event_count == events_before
    assert audit.verify_chain() == (events_before, None)


def test_submitted_report_rolled_back_leaves_neither_case_nor_event():
    institution = make_institution()
    db.session.commit()

    case, _ = make_case(institution)
    assert db.session.scalar(sa.select(AuditEvent).where(AuditEvent.case_id == case.id)) is not None
    db.session.rollback()

    assert count(Case) == 0
    assert count(AuditEvent) == 0
    # The chain goes on from where it was: the next event links to genesis.
    make_case(institution)
    db.session.commit()
    assert audit.verify_chain() == (1, None)


def test_removing_the_head_together_with_the_last_events_is_noticed():
    for n in range(3):
        audit.record("demo.loaded", actor="system", n=n)
    db.session.commit()
    last = db.session.scalar(sa.select(sa.func.max(AuditEvent.id)))
    db.session.execute(sa.delete(AuditEvent).where(AuditEvent.id == last))
    db.session.execute(sa.delete(AuditHead))
    db.session.commit()

    checked, problem = audit.verify_chain()

    assert problem is not None and problem.code == "truncated"


def test_every_action_is_registered_in_the_past_tense_and_an_unknown_one_is_refused():
    """One registry names every action the trail records (audit.ACTIONS), with the label a
    case's timeline shows; older names keep their label through audit.RENAMED."""
    import pytest

    with pytest.raises(ValueError, match="not an audit action"):
        audit.record("case.close", actor="system")
    assert set(audit.RENAMED.values()) <= set(audit.ACTIONS)
    assert not set(audit.RENAMED) & set(audit.ACTIONS)
    assert audit.label("case.close") == audit.label("case.closed") == "Afgesloten"
    assert audit.label("statistics.published") == "statistics.published"  # no timeline
    participles = {"sent", "set", "reset", "withdrawn", "read"}
    present_tense = {
        name
        for name in audit.ACTIONS
        if not any(
            word.endswith("ed") or word in participles for word in name.split(".")[1].split("_")
        )
    }
    assert present_tense == set(), "name what happened, in the past tense"


def test_two_first_events_at_the_same_moment_both_join_the_chain(app):
    """A fresh installation: the first two audited actions arrive together, and both try to
    write the chain's head (found by bench/pg_restart.py as a 500 on PostgreSQL)."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("concurrent transactions need PostgreSQL")
    import threading

    failures = []

    def first_event(start, n):
        with app.app_context():
            start.wait()
            try:
                audit.record("uploads.purged", actor="system", removed=n)
                db.session.commit()
            except Exception as error:  # noqa: BLE001 - the test reports what went wrong
                failures.append(repr(error))
            finally:
                db.session.remove()

    for _round in range(15):  # the moment is narrow: try it a number of times
        db.session.execute(sa.delete(AuditEvent))
        db.session.execute(sa.delete(AuditHead))
        db.session.commit()
        start = threading.Barrier(4)
        threads = [threading.Thread(target=first_event, args=(start, n)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert failures == []
        assert audit.verify_chain() == (4, None)
