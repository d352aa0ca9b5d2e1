"""Retention: a closed case's personal data are erased after its institution's period,
and what statistics count stays exactly as it was."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from stagepact import outbox, retention, statistics, workflow
from stagepact.audit import verify_chain
from stagepact.extensions import db
from stagepact.models import (
    Attachment,
    AttachmentContent,
    AuditEvent,
    Case,
    CaseConsent,
    Institution,
    Investigation,
    Message,
    OutboxMail,
    Referral,
    investigation_attachment,
    outbox_attachment,
    referral_attachment,
    utcnow,
)
from stagepact.vocab import Outcome, Role, Status
from tests.factories import (
    PERSONAL,
    PERSONAL_MARKER,
    SBB_SUMMARY,
    make_attachment,
    make_case,
    make_case_with_everything,
    make_company,
    make_institution,
    make_user,
)
from tests.helpers import audit_events, count
from tests.uploads import stored_bytes

LONG_AGO = timedelta(days=3 * 365)


def retention_command(runner, *flags: str):
    result = runner.invoke(args=["stagepact", "retention", *flags])
    db.session.expire_all()  # the command committed through the same session
    return result


def _every_value() -> str:
    """Every value of every table as the application reads it (encrypted columns decrypted)."""
    values = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(sa.select(table)):
            values.extend(str(v) for v in row if v is not None)
    return "\n".join(values)


def _every_row() -> dict:
    """Every row of every table, raw, to prove that nothing changed."""
    rows = {}
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            rows[table.name] = sorted(
                conn.execute(sa.select(table)).all(), key=lambda r: [str(v) for v in r]
            )
    return rows


def _stored_files() -> set[tuple[int, bytes]]:
    """Every file's content as stored (encrypted), with its attachment's id."""
    return set(
        db.session.execute(sa.select(AttachmentContent.attachment_id, AttachmentContent.data))
    )


def _close_long_ago(case: Case, moment: datetime | None = None) -> None:
    case.closed_at = moment or utcnow() - LONG_AGO


def _kept_fields(case: Case) -> dict:
    """Every column of a case that retention must leave alone."""
    erased = {*retention.ERASED_FIELDS, "narrative", "personal_data_erased_at", "updated_at"}
    return {
        attr.key: getattr(case, attr.key)
        for attr in sa.inspect(Case).column_attrs
        if attr.key not in erased
    }


# --- What is erased, and what stays -------------------------------------------------------


@pytest.fixture
def full():
    full = make_case_with_everything()
    _close_long_ago(full.case)
    # Its mail (to the student, the handlers and the ADV) went out long ago as well.
    for mail in db.session.scalars(sa.select(OutboxMail)):
        mail.sent_at = utcnow() - timedelta(days=40)
    db.session.commit()
    return full


def test_retention_erases_every_personal_field_message_and_file_of_an_old_closed_case(runner, full):
    case = full.case
    files = [a.id for a in full.files]
    assert all(stored_bytes(file) for file in files)
    assert PERSONAL_MARKER in _every_value().lower()  # the test looks at the data

    result = retention_command(runner)

    assert result.exit_code == 0, result.output
    case = db.session.get(Case, case.id)
    for name in retention.ERASED_FIELDS:
        assert getattr(case, name) is None, name
    assert case.narrative == ""
    assert case.personal_data_erased_at is not None
    kinds = sorted(m.kind for m in case.messages)
    assert kinds == sorted(
        [Message.FROM_STUDENT, Message.TO_STUDENT, Message.NOTE, Message.TO_STUDENT]
    )
    assert {m.body for m in case.messages} == {""}
    referral = db.session.get(Referral, full.referral.id)
    assert (referral.summary, referral.answer_note) == ("", "")
    investigation = db.session.get(Investigation, full.investigation.id)
    assert not investigation.shares_identity
    assert (
        investigation.student_name,
        investigation.student_email,
        investigation.student_phone,
    ) == (None, None, None)
    assert investigation.summary == SBB_SUMMARY  # SBB keeps its pseudonymised summary
    assert count(Attachment) == 0
    assert not any(stored_bytes(file) for file in files)
    for link in (referral_attachment, investigation_attachment, outbox_attachment):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(link)) == 0
    assert PERSONAL_MARKER not in _every_value().lower()


def test_retention_keeps_every_categorical_field_date_and_link(runner, full):
    case = full.case
    kept = _kept_fields(case)
    grounds, wishes = case.ground_codes, case.wish_codes
    consents = [(c.kind, c.given, c.source, c.recorded_at) for c in case.consents]
    referral = (full.referral.adv_id, full.referral.referred_at, full.referral.shared_contact)
    referral_answer = (full.referral.answer, full.referral.answered_at)
    decision = (full.investigation.decision, full.investigation.company_id)
    messages = [(m.kind, m.created_at, m.is_feedback, m.author_id) for m in case.messages]

    assert retention_command(runner).exit_code == 0

    case = db.session.get(Case, case.id)
    assert _kept_fields(case) == kept
    assert kept["status"] == Status.CLOSED and kept["outcome"] == Outcome.COMPANY_ADDRESSED
    assert kept["ack_on_time"] is not None and kept["company_id"] is not None
    assert (case.ground_codes, case.wish_codes) == (grounds, wishes)
    assert [(c.kind, c.given, c.source, c.recorded_at) for c in case.consents] == consents
    assert [(m.kind, m.created_at, m.is_feedback, m.author_id) for m in case.messages] == messages
    stored = db.session.get(Referral, full.referral.id)
    assert (stored.adv_id, stored.referred_at, stored.shared_contact) == referral
    assert (stored.answer, stored.answered_at) == referral_answer
    investigation = db.session.get(Investigation, full.investigation.id)
    assert (investigation.decision, investigation.company_id) == decision
    assert investigation.case_id == case.id


def _statistics_world() -> statistics.Period:
    """Cases in two institutions in 2023, spread over the dimensions, closed long ago."""
    south = make_institution(region="Zuid")
    north = make_institution(region="Noord")
    reviewer = make_user(Role.SBB_REVIEWER)
    spread = [
        (south, "application", "company", "refused", ["origin"], Outcome.RESOLVED),
        (south, "internship", "trainer", "remark", ["religion", "name"], Outcome.NOT_SUBSTANTIATED),
        (south, "internship", "colleague", "harassment", ["gender"], Outcome.NO_ACTION_WANTED),
        (north, "school", "school_staff", "unequal", ["disability"], Outcome.COMPANY_ADDRESSED),
        (north, None, None, None, [], Outcome.OUT_OF_SCOPE),
        (north, "application", "company", "refused", ["origin", "language"], Outcome.RESOLVED),
    ]
    for n, (institution, phase, who, form, grounds, outcome) in enumerate(spread * 2):
        handler = make_user(Role.HANDLER, institution)
        case, _code = make_case(
            institution,
            phase=phase,
            who=who,
            form=form,
            grounds=grounds,
            is_anonymous=n % 2 == 0,
            reporter_name=None if n % 2 == 0 else "Naam",
            consent_adv=True,
            consent_sbb=True,
            programme="Opleiding",
            company_text="Bedrijf",
        )
        case.company_id = make_company().id
        case.submitted_at = datetime(2023, 3, 1 + n, 9, 0)
        workflow.acknowledge(case, handler)
        case.acknowledged_at = case.submitted_at + timedelta(days=n % 4 + 1)
        if outcome == Outcome.OUT_OF_SCOPE:
            workflow.close(case, handler, outcome, "Buiten het meldpunt.")
        else:
            workflow.start_follow_up(case, handler)
            if n % 3 == 0:
                workflow.refer(case, handler, institution.adv, "Samenvatting.", False)
                workflow.record_adv_answer(case, handler, "declined", "Niet opgenomen.")
            if n % 4 == 1:
                from stagepact import investigations

                investigation = workflow.escalate(case, handler, "Samenvatting.", False)
                investigations.start(investigation, reviewer)
                investigations.decide(investigation, reviewer, "warning", "Waarschuwing.")
            workflow.send_message(case, handler, "Dit hebben we gedaan.", is_feedback=True)
            workflow.close(case, handler, outcome, "Afgesloten.")
        case.closed_at = datetime(2023, 5, 1 + n, 9, 0)
    return statistics.calendar_year(2023)


QUERIES = [
    *[("sector", (dimension,)) for dimension in statistics.DIMENSIONS],
    ("sector", ("phase", "outcome")),
    ("institution", ("phase",)),
    ("region", ("ground",)),
]


def _numbers(table: statistics.Table):
    return table.counts, table.measures


def test_statistics_are_the_same_before_and_after_retention(runner):
    """The record key and every categorical field outlive erasure: the rollup built again
    after retention gives the same numbers, protected and exact alike."""
    period = _statistics_world()
    statistics.publish()
    db.session.commit()
    queries = [
        statistics.Query(
            statistics.school_year(2022) if level == "institution" else period, level, dims
        )
        for level, dims in QUERIES
    ]
    institutions = db.session.scalars(sa.select(Institution.id)).all()
    own = [statistics.Query(period, "sector", ("outcome",))] * len(institutions)

    def numbers():
        protected = [_numbers(statistics.table(q)) for q in queries]
        exact = [
            _numbers(statistics.own_table(q, i, today=date(2026, 1, 15)))
            for q, i in zip(own, institutions, strict=True)
        ]
        return protected, exact

    before = numbers()
    assert before[1][0][0][-1][0].value + before[1][1][0][-1][0].value == 12  # counts something

    result = retention_command(runner)

    assert result.exit_code == 0, result.output
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).where(Case.personal_data_erased_at.is_not(None))
        )
        == 12
    )
    statistics.publish()
    db.session.commit()
    after = numbers()
    assert after == before


# --- Whose period, which cases --------------------------------------------------------------


def _closed_case(institution, closed_at: datetime, **fields) -> Case:
    handler = make_user(Role.HANDLER, institution)
    case, _code = make_case(institution, narrative="Mijn verhaal.", **fields)
    workflow.acknowledge(case, handler)
    workflow.close(case, handler, Outcome.OUT_OF_SCOPE, "Afgesloten.")
    case.closed_at = closed_at
    return case


def test_each_institution_keeps_personal_data_for_its_own_period(runner):
    short = make_institution(retention_months=12)
    long = make_institution(retention_months=36)
    eighteen_months_ago = utcnow() - timedelta(days=548)
    short_old = _closed_case(short, eighteen_months_ago)
    long_old = _closed_case(long, eighteen_months_ago)
    short_recent = _closed_case(short, utcnow() - timedelta(days=300))
    db.session.commit()

    assert retention_command(runner).exit_code == 0

    assert db.session.get(Case, short_old.id).narrative == ""
    assert db.session.get(Case, long_old.id).narrative == "Mijn verhaal."
    assert db.session.get(Case, short_recent.id).narrative == "Mijn verhaal."


def test_the_period_ends_at_the_start_of_the_day_its_months_ago(runner):
    institution = make_institution(retention_months=24)
    cutoff = retention.cutoff(institution)
    just_past = _closed_case(institution, cutoff - timedelta(seconds=1))
    just_inside = _closed_case(institution, cutoff)
    db.session.commit()

    assert retention_command(runner).exit_code == 0

    assert db.session.get(Case, just_past.id).personal_data_erased_at is not None
    assert db.session.get(Case, just_inside.id).personal_data_erased_at is None


def test_open_cases_are_never_erased_however_old(runner):
    institution = make_institution(retention_months=1)
    handler = make_user(Role.HANDLER, institution)
    new, _code = make_case(institution, narrative="Nog nieuw.")
    new.submitted_at = utcnow() - LONG_AGO
    following, _code = make_case(institution, narrative="Nog bezig.")
    workflow.acknowledge(following, handler)
    workflow.start_follow_up(following, handler)
    following.submitted_at = following.acknowledged_at = utcnow() - LONG_AGO
    # Closed long ago and reopened: open again, so kept.
    reopened = _closed_case(institution, utcnow() - LONG_AGO)
    workflow.reopen(reopened, handler, "De student meldde zich opnieuw.")
    db.session.commit()

    result = retention_command(runner)

    assert result.exit_code == 0
    assert "0 melding(en) gewist" in result.output
    for case in (new, following, reopened):
        fresh = db.session.get(Case, case.id)
        assert fresh.personal_data_erased_at is None and fresh.narrative, fresh.status


def test_erasing_an_open_case_or_erasing_twice_is_refused():
    case, _code = make_case()
    with pytest.raises(retention.ErasureError):
        retention.erase_personal_data(case, "system", retention.RETENTION)
    assert case.narrative

    closed = _closed_case(make_institution(), utcnow() - LONG_AGO)
    retention.erase_personal_data(closed, "system", retention.RETENTION)
    with pytest.raises(retention.ErasureError):
        retention.erase_personal_data(closed, "system", retention.RETENTION)
    assert len(audit_events("case.personal_data_erased")) == 1


# --- Dry run, audit, mail -----------------------------------------------------------------------


def test_dry_run_lists_the_cases_and_changes_nothing(runner, full):
    other = make_institution(name="Zuiderlicht College", retention_months=6)
    old = _closed_case(other, utcnow() - timedelta(days=400))
    kept = _closed_case(other, utcnow() - timedelta(days=30))
    for mail in db.session.scalars(sa.select(OutboxMail)):
        mail.sent_at = utcnow() - timedelta(days=40)
    db.session.commit()
    before, files = _every_row(), _stored_files()
    assert files

    result = retention_command(runner, "--dry-run")

    assert result.exit_code == 0, result.output
    assert _every_row() == before
    assert _stored_files() == files
    lines = result.output.splitlines()
    [line] = [line for line in lines if line.startswith("Zuiderlicht College")]
    assert "bewaartermijn 6 maanden: 1 melding(en)" in line
    assert f"{old.number} (id {old.id})" in line and kept.number not in line
    [line] = [line for line in lines if line.startswith(full.case.institution.name)]
    assert f"{full.case.number} (id {full.case.id})" in line
    mails = count(OutboxMail)
    assert f"2 melding(en) en {mails} verstuurde mail(s)" in result.output
    assert "niets gewist" in result.output


def test_each_erased_case_gets_one_audit_event_of_field_names_and_counts(runner, full):
    result = retention_command(runner)

    assert result.exit_code == 0
    [event] = audit_events("case.personal_data_erased")
    assert (event.case_id, event.actor_type, event.actor_id) == (full.case.id, "system", None)
    details = json.loads(event.details)
    assert details == {
        "reason": "retention",
        "fields": [*retention.ERASED_FIELDS, "narrative"],
        "messages": 4,
        "sbb_messages": 0,
        "referrals": 1,
        "investigations_identity_removed": 1,
        "attachments": 2,
    }
    for value in PERSONAL.values():
        assert value.lower() not in event.details.lower()
    # SBB's copy of the name goes by the same function, with the same event, as when
    # the student takes back their consent (tests/test_consent_withdrawal.py).
    [removed] = audit_events("investigation.identity_removed")
    [investigation] = full.case.investigations
    assert (removed.case_id, removed.actor_type) == (full.case.id, "system")
    assert json.loads(removed.details) == {"investigation_id": investigation.id}
    assert removed.id < event.id
    assert verify_chain()[1] is None


def test_a_second_run_finds_nothing_more_to_erase(runner, full):
    assert retention_command(runner).exit_code == 0
    events = count(AuditEvent)

    again = retention_command(runner)

    assert again.exit_code == 0
    assert "0 melding(en) gewist, 0 verstuurde mail(s) verwijderd." in again.output
    assert count(AuditEvent) == events


def test_sent_mail_older_than_thirty_days_is_deleted_and_the_rest_kept(runner):
    case, _code = make_case()  # open: its file stays, only the mail's link to it goes
    kept_file = make_attachment(case)
    db.session.execute(sa.delete(OutboxMail))
    now = utcnow()
    old_sent = outbox.queue("a@example.org", "Oud", "Inhoud", "test")
    old_sent.sent_at = now - timedelta(days=31)
    old_sent.attachments = [kept_file]
    recent = outbox.queue("b@example.org", "Recent", "Inhoud", "test")
    recent.sent_at = now - timedelta(days=29)
    unsent = outbox.queue("c@example.org", "Wacht", "Inhoud", "test")
    unsent.created_at = now - timedelta(days=90)
    db.session.commit()
    recent_id, unsent_id = recent.id, unsent.id

    result = retention_command(runner)

    assert result.exit_code == 0, result.output
    assert "1 verstuurde mail(s) verwijderd" in result.output
    assert set(db.session.scalars(sa.select(OutboxMail.id))) == {recent_id, unsent_id}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(outbox_attachment)) == 0
    assert db.session.get(Attachment, kept_file.id) is not None
    [event] = audit_events("mail.purged")
    assert json.loads(event.details) == {"removed": 1, "days": 30}


def test_a_case_with_consent_records_from_a_message_keeps_them(runner, full):
    """A consent given in a message points at that message, which stays (empty)."""
    case = full.case
    workflow.reopen(case, full.handler, "Nog een vraag.")
    message = workflow.student_message(case, "Mijn naam mag naar SBB, ZWALUW-toestemming.")
    workflow.record_consent(case, full.handler, "contact", False, "message", message)
    workflow.close(case, full.handler, Outcome.RESOLVED, "Klaar.")
    _close_long_ago(case)
    db.session.commit()

    assert retention_command(runner).exit_code == 0

    consent = db.session.scalar(sa.select(CaseConsent).where(CaseConsent.message_id == message.id))
    assert consent is not None and db.session.get(Message, message.id).body == ""
