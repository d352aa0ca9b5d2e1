"""The operator's commands under `flask stagepact`: create-institution, create-user,
send-mail, audit-verify and demo."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from stagepact import outbox
from stagepact.audit import verify_chain
from stagepact.crypto import verify_password
from stagepact.deadlines import today
from stagepact.demo import DEMO_PASSWORD
from stagepact.extensions import db
from stagepact.models import AuditEvent, Case, Institution, JobRun, OutboxMail, User
from stagepact.vocab import Outcome, Role, Status
from tests.factories import make_adv, make_institution, make_user
from tests.helpers import audit_events, count

STRONG_PASSWORD = "lang-genoeg-wachtwoord"


def stagepact(runner, command: str, *flags: str, input: str | None = None, **options):
    """Run `flask stagepact <command>`; a keyword option_name=value is --option-name value."""
    args = ["stagepact", command, *flags]
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    result = runner.invoke(args=args, input=input)
    db.session.expire_all()  # the command committed through the same session
    return result


# --- create-institution -------------------------------------------------------------


def test_create_institution_prints_its_id_and_meldpunt_path(runner):
    result = stagepact(
        runner,
        "create-institution",
        name="Één Vakschool Zuid-Oost",
        brin="12ab",
        city="Eindhoven",
        region="Zuidoost-Brabant",
    )

    assert result.exit_code == 0, result.output
    institution = db.session.scalar(sa.select(Institution))
    assert institution.brin == "12AB"
    assert institution.slug == "een-vakschool-zuid-oost"
    assert institution.region == "Zuidoost-Brabant"
    assert f"id {institution.id}" in result.output
    assert "/meldpunt/een-vakschool-zuid-oost" in result.output
    assert [e.institution_id for e in audit_events("institution.created")] == [institution.id]


def test_create_institution_takes_a_given_slug_and_adv(runner):
    adv = make_adv()
    db.session.commit()

    result = stagepact(
        runner,
        "create-institution",
        name="Grafisch Lyceum",
        brin="34XY",
        city="Utrecht",
        slug="glu",
        adv_id=str(adv.id),
    )

    assert result.exit_code == 0, result.output
    institution = db.session.scalar(sa.select(Institution))
    assert (institution.slug, institution.adv_id) == ("glu", adv.id)
    assert "/meldpunt/glu" in result.output


def test_create_institution_refuses_a_brin_already_in_use(runner):
    make_institution(brin="12AB")
    db.session.commit()

    result = stagepact(
        runner, "create-institution", name="Tweede School", brin="12ab", city="Delft"
    )

    assert result.exit_code == 1
    assert "Er is al een instelling met BRIN-code 12AB" in result.output
    assert count(Institution) == 1
    assert audit_events("institution.created") == []


@pytest.mark.parametrize("brin", ["12A", "12ABC", "12-A"])
def test_create_institution_refuses_a_brin_that_is_not_four_characters(runner, brin):
    result = stagepact(runner, "create-institution", name="School", brin=brin, city="Delft")

    assert result.exit_code == 1
    assert "BRIN-code is 4 letters of cijfers" in result.output
    assert count(Institution) == 0


def test_create_institution_refuses_a_slug_in_use(runner):
    make_institution(slug="vakschool")
    db.session.commit()

    result = stagepact(runner, "create-institution", name="Vakschool", brin="56CD", city="Delft")

    assert result.exit_code == 1
    assert "/meldpunt/vakschool is al in gebruik" in result.output
    assert count(Institution) == 1


# --- create-user ------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.HANDLER, Role.INSTITUTION_ADMIN])
def test_create_user_for_an_institution_role(runner, role):
    institution = make_institution(brin="12AB")
    db.session.commit()

    result = stagepact(
        runner,
        "create-user",
        email="Anna@School.example",
        name="Anna de Vries",
        role=role.value,
        institution="12ab",
        password=STRONG_PASSWORD,
    )

    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(User))
    assert user.email == "anna@school.example"
    assert (user.role, user.institution_id) == (role, institution.id)
    assert verify_password(user.password_hash, STRONG_PASSWORD)
    assert user.password_hash != STRONG_PASSWORD
    [event] = audit_events("user.created")
    assert (event.actor_type, event.institution_id) == ("system", institution.id)


@pytest.mark.parametrize("role", [Role.SBB_REVIEWER, Role.MONITOR, Role.PLATFORM_ADMIN])
def test_create_user_without_institution_for_other_roles(runner, role):
    result = stagepact(
        runner,
        "create-user",
        email="staf@example.org",
        name="Staf",
        role=role.value,
        password=STRONG_PASSWORD,
    )

    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(User))
    assert (user.role, user.institution_id) == (role, None)


def test_create_user_refuses_a_handler_without_institution(runner):
    result = stagepact(
        runner,
        "create-user",
        email="h@example.org",
        name="H",
        role="handler",
        password=STRONG_PASSWORD,
    )

    assert result.exit_code == 1
    assert "--institution" in result.output
    assert count(User) == 0


def test_create_user_refuses_an_institution_for_a_monitor(runner):
    make_institution(brin="12AB")
    db.session.commit()

    result = stagepact(
        runner,
        "create-user",
        email="m@example.org",
        name="M",
        role="monitor",
        institution="12AB",
        password=STRONG_PASSWORD,
    )

    assert result.exit_code == 1
    assert "hoort niet bij een instelling" in result.output
    assert count(User) == 0


def test_create_user_refuses_an_unknown_institution(runner):
    result = stagepact(
        runner,
        "create-user",
        email="h@example.org",
        name="H",
        role="handler",
        institution="99ZZ",
        password=STRONG_PASSWORD,
    )

    assert result.exit_code == 1
    assert "Er is geen instelling met BRIN-code 99ZZ" in result.output


def test_create_user_refuses_an_email_in_use(runner):
    make_user(Role.MONITOR, email="bestaat@example.org")
    db.session.commit()

    result = stagepact(
        runner,
        "create-user",
        email="Bestaat@Example.org",
        name="Ander",
        role="monitor",
        password=STRONG_PASSWORD,
    )

    assert result.exit_code == 1
    assert "Er is al een account met dit e-mailadres. (--email)" in result.output
    assert count(User) == 1
    assert audit_events("user.created") == []


@pytest.mark.parametrize("invite", [False, True])
def test_create_user_refuses_an_address_that_is_not_one_before_asking_a_password(runner, invite):
    flags = ("--invite",) if invite else ()
    result = stagepact(
        runner, "create-user", *flags, email="iemand@@example", name="Iemand", role="monitor"
    )

    assert result.exit_code == 1
    assert "Dit is geen geldig e-mailadres. (--email)" in result.output
    assert "Wachtwoord" not in result.output
    assert count(User) == 0


def test_create_user_refuses_a_short_password(runner):
    result = stagepact(
        runner,
        "create-user",
        email="k@example.org",
        name="K",
        role="monitor",
        password="elf-tekens!",
    )

    assert result.exit_code == 1
    assert "minstens 12 tekens" in result.output
    assert count(User) == 0


def test_create_user_refuses_a_common_password(runner):
    result = stagepact(
        runner,
        "create-user",
        email="k@example.org",
        name="K",
        role="monitor",
        password="password1234",
    )

    assert result.exit_code == 1
    assert "veelgebruikte" in result.output
    assert count(User) == 0


def test_create_user_with_invite_mails_a_link_instead_of_setting_a_password(runner):
    institution = make_institution()
    db.session.commit()

    result = stagepact(
        runner,
        "create-user",
        "--invite",
        email="Nieuw@School.example",
        name="Nieuwe Collega",
        role="handler",
        institution=institution.brin,
    )

    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(User))
    assert user.email == "nieuw@school.example" and user.password_hash is None
    [mail] = db.session.scalars(sa.select(OutboxMail)).all()
    assert mail.recipient == user.email and "/wachtwoord-instellen#" in mail.body
    assert "/wachtwoord-instellen" not in result.output  # the link goes by mail only


def test_create_user_asks_for_the_password_twice_without_echo(runner):
    typed = f"{STRONG_PASSWORD}\nverkeerd-herhaald\n{STRONG_PASSWORD}\n{STRONG_PASSWORD}\n"

    result = stagepact(
        runner, "create-user", email="p@example.org", name="P", role="monitor", input=typed
    )

    assert result.exit_code == 0, result.output
    assert STRONG_PASSWORD not in result.output
    assert "niet gelijk" in result.output
    user = db.session.scalar(sa.select(User))
    assert verify_password(user.password_hash, STRONG_PASSWORD)


# --- send-mail --------------------------------------------------------------------


def test_send_mail_prints_due_mail_in_console_mode_and_counts_it(runner, app):
    assert app.config["MAIL_SERVER"] is None
    outbox.queue("een@example.org", "Eerste", "Hallo een", purpose="test")
    outbox.queue("twee@example.org", "Tweede", "Hallo twee", purpose="test")
    db.session.commit()

    result = stagepact(runner, "send-mail")

    assert result.exit_code == 0, result.output
    assert "2 mail(s) verstuurd, 0 mislukt" in result.output
    assert "Hallo twee" in result.output
    assert all(m.sent_at is not None for m in db.session.scalars(sa.select(OutboxMail)))
    [event] = audit_events("mail.sent")
    assert event.actor_type == "system"


def test_send_mail_reports_failures_and_exits_one(runner, monkeypatch):
    real_deliver = outbox._deliver

    def deliver(item):
        if item.subject == "Kapot":
            raise ConnectionRefusedError
        real_deliver(item)

    monkeypatch.setattr(outbox, "_deliver", deliver)
    outbox.queue("een@example.org", "Goed", "Hallo", purpose="test")
    outbox.queue("twee@example.org", "Kapot", "Hallo", purpose="test")
    db.session.commit()

    result = stagepact(runner, "send-mail")

    assert result.exit_code == 1, result.output
    assert "1 mail(s) verstuurd, 1 mislukt" in result.output
    failed = db.session.scalar(sa.select(OutboxMail).where(OutboxMail.subject == "Kapot"))
    assert failed.sent_at is None and failed.attempts == 1
    assert db.session.get(JobRun, "send-mail").outcome == "failed"


def test_send_mail_respects_the_limit(runner):
    for n in range(3):
        outbox.queue(f"{n}@example.org", f"Mail {n}", "Hallo", purpose="test")
    db.session.commit()

    result = stagepact(runner, "send-mail", limit=2)

    assert "2 mail(s) verstuurd, 0 mislukt" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).where(OutboxMail.sent_at.is_(None))) == 1


# --- audit-verify -----------------------------------------------------------------


def test_audit_verify_passes_an_intact_chain(runner):
    stagepact(runner, "create-institution", name="A", brin="11AA", city="Ede")
    stagepact(runner, "create-institution", name="B", brin="22BB", city="Ede")

    result = stagepact(runner, "audit-verify")

    assert result.exit_code == 0, result.output
    assert "2 gebeurtenissen, keten intact" in result.output


def test_audit_verify_names_the_event_whose_details_were_changed(runner):
    stagepact(runner, "create-institution", name="A", brin="11AA", city="Ede")
    stagepact(runner, "create-institution", name="B", brin="22BB", city="Ede")
    first, second = audit_events("institution.created")
    db.session.execute(
        sa.text("UPDATE audit_event SET details = :details WHERE id = :id"),
        {"details": '{"brin": "66XX"}', "id": first.id},
    )
    db.session.commit()

    result = stagepact(runner, "audit-verify")

    assert result.exit_code == 1
    assert f"gebeurtenis {first.id} " in result.output
    assert f"gebeurtenis {second.id} " not in result.output
    assert "gewijzigd" in result.output


# --- demo ------------------------------------------------------------------------------


@pytest.fixture
def demo_loaded(runner):
    result = stagepact(runner, "demo")
    assert result.exit_code == 0, result.output
    return result


def test_demo_loads_institutions_staff_and_cases_in_every_state(demo_loaded):
    assert count(Institution) == 3
    cases = db.session.scalars(sa.select(Case)).all()
    assert len(cases) >= 35
    assert {case.status for case in cases} == set(Status)
    outcomes = {case.outcome for case in cases}
    assert {Outcome.WITHDRAWN, Outcome.DUPLICATE, Outcome.RESOLVED} <= outcomes
    assert len({case.institution_id for case in cases}) == 3
    assert any(case.is_overdue(today()) for case in cases)
    assert any(not case.is_anonymous for case in cases)
    assert any(case.entered_by_id is not None for case in cases)


def test_demo_has_at_each_institution_a_case_to_escalate_and_one_to_refer(demo_loaded):
    from stagepact import scoping, workflow

    for institution in db.session.scalars(sa.select(Institution)):
        assert scoping.accepts_reports(institution)
        handler = db.session.scalar(
            sa.select(User).where(User.institution_id == institution.id, User.role == Role.HANDLER)
        )
        cases = db.session.scalars(sa.select(Case).where(Case.institution_id == institution.id))
        steps = [workflow.allowed_actions(case, handler) for case in cases]
        assert any("escalate" in allowed for allowed in steps), institution.name
        assert any("refer" in allowed for allowed in steps), institution.name


def test_demo_staff_log_in_with_the_printed_password(demo_loaded):
    users = db.session.scalars(sa.select(User)).all()

    assert DEMO_PASSWORD in demo_loaded.output
    assert "http://127.0.0.1:5000" in demo_loaded.output
    assert {user.role for user in users} == set(Role)
    for user in users:
        assert user.email.endswith(".example")
        assert user.email in demo_loaded.output
    assert verify_password(users[0].password_hash, DEMO_PASSWORD)
    for institution in db.session.scalars(sa.select(Institution)):
        staff = [user.role for user in users if user.institution_id == institution.id]
        assert sorted(staff) == sorted([Role.HANDLER, Role.HANDLER, Role.INSTITUTION_ADMIN])
        assert institution.adv is not None and institution.intro_text


def test_demo_leaves_an_intact_audit_chain(runner, demo_loaded):
    checked, problem = verify_chain()

    assert problem is None
    assert checked > count(Case)
    assert stagepact(runner, "audit-verify").exit_code == 0


def test_demo_if_empty_adds_nothing_the_second_time(runner, demo_loaded):
    before = (count(Institution), count(User), count(Case), count(AuditEvent))

    result = stagepact(runner, "demo", "--if-empty")

    assert result.exit_code == 0, result.output
    assert "niet opnieuw geladen" in result.output
    assert (count(Institution), count(User), count(Case), count(AuditEvent)) == before
    # The logins are printed again, so that `make run` always says how to log in.
    assert "handler1@grachtencollege.example" in result.output
    assert "demo-wachtwoord" in result.output


def test_demo_without_if_empty_refuses_to_load_twice(runner, demo_loaded):
    result = stagepact(runner, "demo")

    assert result.exit_code == 1
    assert count(Institution) == 3


def test_demo_refuses_to_run_in_production(runner, app, monkeypatch):
    monkeypatch.setitem(app.config, "ENV_NAME", "production")

    result = stagepact(runner, "demo")

    assert result.exit_code == 1
    assert "productie" in result.output
    assert count(Institution) == 0


def test_create_institution_sets_its_own_text_and_deadlines(runner):
    result = stagepact(
        runner,
        "create-institution",
        "--name", "Eigen Termijn College",
        "--brin", "77ET",
        "--city", "Zwolle",
        "--intro-text", "Welkom bij ons meldpunt.",
        "--ack-working-days", "7",
        "--feedback-months", "2",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    institution = db.session.scalar(sa.select(Institution).where(Institution.brin == "77ET"))
    assert (institution.intro_text, institution.ack_working_days, institution.feedback_months) == (
        "Welkom bij ons meldpunt.",
        7,
        2,
    )


def test_create_institution_refuses_deadlines_out_of_range(runner):
    result = stagepact(
        runner, "create-institution", "--name", "X", "--brin", "78ET", "--city", "Y",
        "--ack-working-days", "0",
    )  # fmt: skip

    assert result.exit_code != 0
    assert count(Institution) == 0


def test_create_user_refuses_a_name_with_a_line_break(runner):
    institution = make_institution()
    db.session.commit()
    result = stagepact(
        runner,
        "create-user",
        "--invite",
        email="nieuw@school.example",
        name="Nieuwe\r\nCollega",
        role="handler",
        institution=institution.brin,
    )

    assert result.exit_code != 0
    assert "regeleinde" in result.output
    assert db.session.scalar(sa.select(User)) is None
