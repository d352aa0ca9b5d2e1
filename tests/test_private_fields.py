"""Private by construction: every text column is either encrypted (`EncryptedText`) or on
the allow-list below with the reason it may stay plain; and migration 0012 encrypts
the values that were plain before it (and decrypts them on the way down)."""

from __future__ import annotations

import enum

import pytest
import sqlalchemy as sa
from alembic import command
from cryptography.fernet import Fernet

from stagepact.crypto import EncryptedText, email_lookup
from stagepact.extensions import db
from stagepact.models import ApiToken, Case, User
from stagepact.vocab import Role
from tests.databases import alembic_config, engine_for
from tests.factories import make_case, make_user
from tests.helpers import insert_row

CODE = "a code from a fixed list, enforced by a CHECK constraint: no free text"
HASH = "a hash (SHA-256, scrypt or Argon2) or a random token: nothing typed"
PUBLIC_ORG = "an organisation's public details, typed by platform staff, not a person's"
REGISTER = "SBB's public register of learning companies, searched in SQL (companies.py)"

# Text columns that stay plain, each with why. A column that starts holding what a
# student or staff member types about a person belongs in EncryptedText instead.
PLAIN_TEXT_COLUMNS = {
    # Regional anti-discrimination services: a public list (name, region, contacts).
    ("adv", "name"): PUBLIC_ORG,
    ("adv", "region"): PUBLIC_ORG,
    ("adv", "municipalities"): PUBLIC_ORG,
    ("adv", "email"): "the ADV's public office address, where referrals are sent",
    ("adv", "phone"): "the ADV's public office number, shown to students",
    ("adv", "website"): PUBLIC_ORG,
    # Institutions: the public meldpunt pages are found and sorted by these, in SQL.
    ("institution", "name"): "public; searched and sorted in SQL on the start page",
    ("institution", "brin"): "the public BRIN code of the school",
    ("institution", "slug"): "public; part of the meldpunt's URL",
    ("institution", "city"): "public; searched in SQL on the start page",
    ("institution", "region"): PUBLIC_ORG,
    ("institution", "intro_text"): "the public introduction on the meldpunt page",
    ("institution", "colour"): "a #rrggbb house-style colour",
    # Companies.
    ("company", "name"): REGISTER,
    ("company", "kvk"): REGISTER,
    ("company", "sbb_number"): REGISTER,
    ("company", "address"): REGISTER,
    ("company", "city"): REGISTER,
    ("company", "sector"): REGISTER,
    ("company", "recognition_status"): CODE,
    # Staff accounts.
    ("user_account", "email_lookup"): "a keyed hash of the (encrypted) address: its blind index",
    ("user_account", "role"): CODE,
    ("user_account", "password_hash"): HASH,
    ("login_failure", "address_hash"): "a keyed hash of the address a login failed from",
    ("user_account", "language"): "a language code (nl, en)",
    ("account_token", "purpose"): CODE,
    ("account_token", "token_hash"): HASH,
    ("api_token", "token_hash"): HASH,
    ("recovery_code", "code_hash"): HASH,
    # Cases: only codes stay plain; everything typed about the student is encrypted.
    ("report_case", "number"): "the case number the institution gives, e.g. 2026-K7QX4M",
    ("report_case", "receipt_hash"): HASH,
    ("report_case", "status"): CODE,
    ("report_case", "channel"): CODE,
    ("report_case", "language"): "a language code of the student's pages",
    ("report_case", "reporter_role"): "a choice of the form (self, other)",
    ("report_case", "contact_preference"): "a choice of the form (none, email, phone)",
    ("report_case", "level"): CODE,
    ("report_case", "path"): CODE,
    ("report_case", "phase"): "a choice of the form; counted in SQL by the statistics",
    ("report_case", "who"): "a choice of the form; counted in SQL by the statistics",
    ("report_case", "form"): "a choice of the form; counted in SQL by the statistics",
    ("report_case", "outcome"): CODE,
    ("case_ground", "ground"): "a ground code of the form; counted in SQL by the statistics",
    ("case_wish", "wish"): "a wish code of the form",
    ("case_message", "kind"): CODE,
    ("case_consent", "kind"): CODE,
    ("case_consent", "source"): CODE,
    ("attachment", "token"): HASH,
    ("attachment", "kind"): CODE,
    ("follow_up_session", "id_hash"): HASH,
    ("submission", "id_hash"): HASH,
    ("submission", "browser_hash"): HASH,
    # SBB.
    ("investigation", "origin"): CODE,
    ("investigation", "status"): CODE,
    ("investigation", "shared_grounds"): "ground codes, comma-separated",
    ("investigation", "shared_phase"): "a choice of the student's form, copied",
    ("investigation", "shared_form"): "a choice of the student's form, copied",
    ("investigation", "recognition_before"): CODE,
    ("investigation", "decision"): CODE,
    ("referral", "answer"): CODE,
    ("recognition_change", "from_status"): CODE,
    ("recognition_change", "to_status"): CODE,
    ("recognition_change", "cause"): "a code of what caused the change",
    # What the installation's secrets must match (preflight).
    ("secret_check", "pepper_check"): "a keyed hash of a fixed text under the pepper",
    # Mail, audit and statistics bookkeeping.
    ("outbox_mail", "subject"): "fixed translated texts with a case number or reference, "
    "never typed text (notify.py)",
    ("outbox_mail", "purpose"): "a code of the kind of mail",
    ("outbox_mail", "last_error"): "the exception's class name or SMTP reply code (outbox.py)",
    ("outbox_mail", "message_id"): "a random Message-ID the server makes (outbox.py)",
    ("job_run", "name"): "a scheduled job's command name (jobs.JOBS)",
    ("job_run", "outcome"): CODE,
    ("job_run", "detail"): "counts and an exception's class name (jobs.py)",
    ("audit_event", "actor_type"): "a code: user, reporter, system, anonymous",
    ("audit_event", "action"): "a code of the event",
    ("audit_event", "details"): "JSON of ids, codes and counts, never personal content "
    "(audit.record); hashed into the chain, so it must stay byte for byte",
    ("audit_event", "prev_hash"): HASH,
    ("audit_event", "hash"): HASH,
    ("audit_head", "last_hash"): HASH,
    ("statistics_rollup", "shape"): "aggregate: the dimensions of a table shape",
    ("statistics_rollup", "first"): "aggregate: a dimension's code",
    ("statistics_rollup", "second"): "aggregate: a dimension's code",
    ("statistics_rollup", "kind"): "aggregate: count or a histogram's name",
}

TEXT_TYPES = (sa.String, sa.Text, sa.Unicode, sa.UnicodeText, sa.Enum, sa.JSON)


def _text_columns() -> dict[tuple[str, str], sa.Column]:
    return {
        (table.name, column.name): column
        for table in db.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, (*TEXT_TYPES, EncryptedText))
    }


def test_every_text_column_is_encrypted_or_allowed_plain_with_a_reason():
    columns = _text_columns()
    plain = {key for key, column in columns.items() if not isinstance(column.type, EncryptedText)}

    assert plain - PLAIN_TEXT_COLUMNS.keys() == set(), "encrypt these, or allow them with why"
    # No stale entries: an allowed column exists and is still plain.
    assert PLAIN_TEXT_COLUMNS.keys() - plain == set()
    assert all(reason.strip() for reason in PLAIN_TEXT_COLUMNS.values())


def test_the_walk_sees_every_kind_of_text_column():
    """The walk would notice a new column of any text type (a test that cannot fail is a defect)."""

    class Kind(enum.Enum):
        A = "a"

    extra = sa.Table(
        "walk_probe",
        sa.MetaData(),
        *(
            sa.Column(f"c{i}", kind)
            for i, kind in enumerate(
                [sa.String(5), sa.Text(), sa.Unicode(5), sa.UnicodeText(), sa.Enum(Kind), sa.JSON()]
            )
        ),
    )
    assert all(isinstance(column.type, TEXT_TYPES) for column in extra.columns)
    assert ("report_case", "narrative") in _text_columns()


@pytest.mark.parametrize(
    "table, column",
    [
        ("report_case", "programme"),
        ("report_case", "incident_period"),
        ("report_case", "company_text"),
        ("api_token", "name"),
        ("report_case", "reporter_name"),
        ("case_message", "body"),
    ],
)
def test_personal_fields_the_assessment_found_plain_are_encrypted(table, column):
    assert isinstance(_text_columns()[(table, column)].type, EncryptedText)


def test_the_database_holds_only_tokens_for_the_case_context_and_token_names(app):
    case, _code = make_case(
        programme="Verzorgende IG", incident_period="begin maart", company_text="Bakkerij Bol"
    )
    from stagepact import api_tokens
    from stagepact.vocab import Role

    api_tokens.create(make_user(Role.MONITOR), "Laptop van Jan", actor="system")
    db.session.commit()
    raw = sa.type_coerce
    stored = db.session.execute(
        sa.select(
            raw(Case.programme, sa.Text),
            raw(Case.incident_period, sa.Text),
            raw(Case.company_text, sa.Text),
        ).where(Case.id == case.id)
    ).one()
    [name] = db.session.execute(sa.select(raw(ApiToken.name, sa.Text))).one()
    for token, plain in zip(
        (*stored, name),
        ("Verzorgende IG", "begin maart", "Bakkerij Bol", "Laptop van Jan"),
        strict=True,
    ):
        assert plain not in token and token.startswith("gAAAA")
    db.session.expire_all()
    fresh = db.session.get(Case, case.id)
    assert (fresh.programme, fresh.incident_period, fresh.company_text) == (
        "Verzorgende IG",
        "begin maart",
        "Bakkerij Bol",
    )


# --- Migration 0012 encrypts what was plain, and decrypts it on the way down ---------------


PLAIN_BEFORE = {
    ("report_case", "programme"): "Verzorgende IG",
    ("report_case", "incident_period"): "begin maart",
    ("report_case", "company_text"): "Bakkerij Bol, Zwolle",
    ("api_token", "name"): "Laptop van Jan",
}


def _values(url: str) -> dict[tuple[str, str], str | None]:
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            return {
                (table, column): conn.execute(
                    sa.text(f"SELECT {column} FROM {table}")  # noqa: S608 (names from above)
                ).scalar_one()
                for table, column in PLAIN_BEFORE
            }
    finally:
        engine.dispose()


def test_migration_0012_encrypts_existing_rows_and_downgrade_decrypts_them(app, new_database):
    url = new_database()
    config = alembic_config(url)
    key = Fernet.generate_key().decode()
    config.attributes["encryption_keys"] = [key]
    command.upgrade(config, "0011")
    engine = engine_for(url)
    with engine.begin() as conn:
        insert_row(conn, "institution", id=1, name="Testcollege", brin="99XX", slug="t", city="Z")
        insert_row(conn, "user_account", id=1, email="m@example.nl", name="M", role="monitor")
        insert_row(
            conn,
            "report_case",
            id=1,
            institution_id=1,
            number="2026-0001",
            receipt_hash="h" * 64,
            status="new",
            channel="web",
            programme=PLAIN_BEFORE[("report_case", "programme")],
            incident_period=PLAIN_BEFORE[("report_case", "incident_period")],
            company_text=PLAIN_BEFORE[("report_case", "company_text")],
        )
        insert_row(conn, "api_token", id=1, user_id=1, name="Laptop van Jan", token_hash="t" * 64)
    engine.dispose()

    command.upgrade(config, "0012")

    encrypted = _values(url)
    fernet = Fernet(key.encode())
    for field, token in encrypted.items():
        assert PLAIN_BEFORE[field] not in token
        assert fernet.decrypt(token.encode()).decode() == PLAIN_BEFORE[field]

    command.downgrade(config, "0011")

    assert _values(url) == PLAIN_BEFORE


def test_migration_0015_encrypts_staff_addresses_and_names_behind_a_blind_index(
    app,
    new_database,
):
    url = new_database()
    config = alembic_config(url)
    key = Fernet.generate_key().decode()
    config.attributes["encryption_keys"] = [key]
    config.attributes["receipt_pepper"] = app.config["RECEIPT_PEPPER"]
    command.upgrade(config, "0014")
    engine = engine_for(url)
    with engine.begin() as conn:
        insert_row(
            conn, "user_account", id=1, email="nadia@school.nl", name="Nadia", role="monitor"
        )
    engine.dispose()

    command.upgrade(config, "0015")

    engine = engine_for(url)
    with engine.connect() as conn:
        email, name, lookup = conn.execute(
            sa.text("SELECT email, name, email_lookup FROM user_account")
        ).one()
    engine.dispose()
    fernet = Fernet(key.encode())
    assert "nadia" not in email and "Nadia" not in name
    assert fernet.decrypt(email.encode()).decode() == "nadia@school.nl"
    assert fernet.decrypt(name.encode()).decode() == "Nadia"
    assert lookup == email_lookup(" Nadia@School.nl ")  # what login looks up

    command.downgrade(config, "0014")

    engine = engine_for(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT email, name FROM user_account")).one() == (
            "nadia@school.nl",
            "Nadia",
        )
    engine.dispose()


def test_a_staff_address_is_found_and_kept_unique_by_its_blind_index_only(app):
    user = make_user(Role.MONITOR, email="Nadia@School.nl")
    db.session.commit()
    stored = db.session.execute(
        sa.text("SELECT email, name, email_lookup FROM user_account WHERE id = :id"),
        {"id": user.id},
    ).one()
    assert "nadia" not in stored.email.lower() and user.name not in stored.name
    assert db.session.scalar(sa.select(User).where(User.with_email(" NADIA@school.nl"))) == user
    with pytest.raises(sa.exc.IntegrityError):
        make_user(Role.MONITOR, email="nadia@school.nl")
        db.session.flush()
    db.session.rollback()


def test_sql_cannot_compare_an_encrypted_column_and_says_so():
    """A Fernet token differs for the same text: a comparison would match nothing, silently."""
    for compare in (
        lambda: User.email == "nadia@school.nl",
        lambda: User.name.in_(["Nadia"]),
        lambda: Case.programme.like("%zorg%"),
    ):
        with pytest.raises(TypeError, match="encrypted"):
            compare()
    assert str(Case.programme.is_(None)) == str(Case.programme == None)  # noqa: E711
