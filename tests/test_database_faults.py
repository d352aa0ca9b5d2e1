"""When the database is briefly away, a student loses nothing: a request runs again when
that is safe, a report is opened once whatever happens to the answer, the receipt needs
no database after the commit, and what is still away gets a calm 503 that keeps what was
typed. The faults are made in the test: statements refused as a restarting server refuses
them, a commit whose answer is lost, and (on PostgreSQL) the backend terminated."""

from __future__ import annotations

import contextlib
import io
import os
import re

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from stagepact import database
from stagepact.extensions import db
from stagepact.models import Case, Message, Submission
from stagepact.scoping import case_for_receipt_code
from stagepact.vocab import Role
from tests.factories import make_case, make_meldpunt, make_user
from tests.helpers import FormState, count, page_text

NARRATIVE = (
    "Bij het gesprek zei de eigenaar dat iemand met mijn achternaam niet past bij zijn klanten."
)
POSTGRESQL = os.environ.get("DATABASE_URL", "").startswith("postgresql")


def _lost(statement: str = "") -> sa.exc.OperationalError:
    return sa.exc.OperationalError(
        statement, {}, Exception("server closed the connection unexpectedly")
    )


@contextlib.contextmanager
def refusing(starts_with: str, times: int | None = None):
    """Statements beginning with `starts_with` fail as on a lost connection: the first
    `times` of them, or all while the block runs."""
    left = {"n": times}

    def refuse(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(starts_with.upper()):
            if left["n"] is None or left["n"] > 0:
                if left["n"] is not None:
                    left["n"] -= 1
                raise _lost(statement)

    sa.event.listen(db.engine, "before_cursor_execute", refuse)
    try:
        yield left
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", refuse)


@contextlib.contextmanager
def answer_lost(monkeypatch, writing: type):
    """The COMMIT of the first transaction that adds a `writing` row happens, but its answer
    never arrives: the driver reports a lost connection after the database committed."""
    dialect = db.engine.dialect
    real = dialect.do_commit
    state = {"armed": False, "lost": 0}

    def arm(session, flush_context):  # rows flushed in this transaction, not yet committed
        if not state["lost"] and any(isinstance(row, writing) for row in session.new):
            state["armed"] = True

    def do_commit(dbapi_connection):
        real(dbapi_connection)
        if state["armed"]:
            state["armed"] = False
            state["lost"] += 1
            raise dialect.loaded_dbapi.OperationalError("server closed the connection unexpectedly")

    sa.event.listen(Session, "after_flush", arm)
    monkeypatch.setattr(dialect, "do_commit", do_commit)
    try:
        yield state
    finally:
        monkeypatch.setattr(dialect, "do_commit", real)
        sa.event.remove(Session, "after_flush", arm)


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    """The pauses between tries, shortened: the tries themselves are what is tested."""
    monkeypatch.setattr(database, "PAUSES", (0, 0, 0))


@pytest.fixture
def meldpunt():
    institution = make_meldpunt()
    db.session.commit()
    return institution


def _form(client, institution) -> dict:
    page = page_text(client.get(f"/meldpunt/{institution.slug}/melden"))
    return {
        "submission_id": FormState(page).values["submission_id"][0],
        "narrative": NARRATIVE,
        "anonymity": "named",
        "reporter_name": "Noor Yilmaz",
        "email": "noor@example.org",
        "contact_preference": "email",
    }


def _code(response) -> str:
    found = re.search(r'class="receipt-code"[^>]*>([\d ]+)<', page_text(response))
    assert found, page_text(response)[:3000]
    return found.group(1)


def test_a_report_is_tried_again_when_the_database_drops_its_statements(client, meldpunt):
    data = _form(client, meldpunt)
    with refusing("INSERT INTO report_case", times=2) as left:
        response = client.post(f"/meldpunt/{meldpunt.slug}/melden", data=data)

    assert left["n"] == 0  # both refusals happened, and the third try went through
    assert response.status_code == 200
    case = case_for_receipt_code(_code(response).replace(" ", ""))
    assert case is not None and count(Case) == 1 and case.narrative == NARRATIVE


def test_a_commit_whose_answer_is_lost_opens_no_second_case_and_shows_the_same_code(
    app, client, meldpunt, monkeypatch
):
    data = _form(client, meldpunt)
    with answer_lost(monkeypatch, Case) as state:
        response = client.post(f"/meldpunt/{meldpunt.slug}/melden", data=data)

    assert state["lost"] == 1
    assert response.status_code == 200
    code = _code(response).replace(" ", "")
    assert count(Case) == 1 and count(Submission) == 1
    assert case_for_receipt_code(code) is not None
    # And a later reload of the same POST shows that same code once more.
    again = client.post(f"/meldpunt/{meldpunt.slug}/melden", data=data)
    assert _code(again).replace(" ", "") == code
    assert count(Case) == 1


def test_a_database_still_away_gives_a_calm_503_that_keeps_everything_typed(client, meldpunt):
    data = _form(client, meldpunt)
    with refusing("INSERT INTO report_case"):
        response = client.post(
            f"/meldpunt/{meldpunt.slug}/melden",
            data={**data, "attachments": [(io.BytesIO(b"bewijs\n"), "bewijs.txt")]},
        )

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    page = page_text(response)
    assert "Het meldpunt is even niet bereikbaar" in page and "Traceback" not in page
    state = FormState(page)
    assert state.values["narrative"] == [NARRATIVE]  # shown, in a text field to keep
    assert state.values["submission_id"] == [data["submission_id"]]
    assert state.values["reporter_name"] == ["Noor Yilmaz"]
    assert state.values.get("attachment_token")  # the file was stored before, and comes along
    assert count(Case) == 0

    # Sent again from the 503 page once the database is back: the report, with its file.
    again = client.post(
        f"/meldpunt/{meldpunt.slug}/melden",
        data={
            name: values if len(values) > 1 else values[0] for name, values in state.values.items()
        },
    )
    assert again.status_code == 200
    case = case_for_receipt_code(_code(again).replace(" ", ""))
    assert case.narrative == NARRATIVE and len(case.attachments) == 1


def test_a_file_that_could_not_be_stored_is_asked_for_again_on_the_503(client, meldpunt):
    data = _form(client, meldpunt)
    with refusing("INSERT INTO attachment"):
        response = client.post(
            f"/meldpunt/{meldpunt.slug}/melden",
            data={**data, "attachments": [(io.BytesIO(b"bewijs\n"), "bewijs.txt")]},
        )
    assert response.status_code == 503
    page = page_text(response)
    assert 'enctype="multipart/form-data"' in page
    assert re.search(r'<input type="file"[^>]*name="attachments"', page)
    assert FormState(page).values["narrative"] == [NARRATIVE]


def test_a_handlers_message_is_kept_on_the_503(app, client, auth):
    handler = make_user(Role.HANDLER)
    case, _code_ = make_case(handler.institution)
    db.session.commit()
    auth.login(handler)
    text = "Kun je vertellen wanneer het gesprek precies was en wie erbij waren?"
    with refusing("INSERT INTO case_message"):
        response = client.post(f"/behandelen/zaken/{case.id}/bericht", data={"body": text})
    assert response.status_code == 503
    assert FormState(page_text(response)).values["body"] == [text]
    assert count(Message) == 0


def test_a_page_the_database_cannot_serve_is_a_calm_503_not_a_500(client, auth):
    handler = make_user(Role.HANDLER)
    db.session.commit()
    auth.login(handler)
    with refusing("SELECT report_case"):
        response = client.get("/behandelen/")
    assert response.status_code == 503
    assert "Opnieuw proberen" in page_text(response)


def test_a_request_whose_commit_is_in_doubt_is_not_run_twice(app, client, auth, monkeypatch):
    """Only a request that records itself once (the report form) may run again after a
    COMMIT failed half-way; a handler's message would be sent twice. The 503 then says
    that it may have been saved."""
    handler = make_user(Role.HANDLER)
    case, _code_ = make_case(handler.institution)
    db.session.commit()
    auth.login(handler)
    text = "Kun je vertellen wanneer het gesprek precies was en wie erbij waren?"
    with answer_lost(monkeypatch, Message) as state:
        response = client.post(f"/behandelen/zaken/{case.id}/bericht", data={"body": text})
    assert state["lost"] == 1
    assert response.status_code == 503
    page = page_text(response)
    assert "We weten niet zeker of dit al is opgeslagen" in page
    assert FormState(page).values["body"] == [text]
    assert count(Message) == 1  # sent once, not twice


@pytest.mark.skipif(not POSTGRESQL, reason="terminating a backend needs PostgreSQL")
def test_the_receipt_needs_no_database_once_the_report_is_committed(app, client, meldpunt):
    """The connection is dropped between the commit and the answer (pg_terminate_backend):
    the receipt is made of what the request already holds."""
    data = _form(client, meldpunt)
    admin = sa.create_engine(db.engine.url, poolclass=sa.pool.NullPool)
    backend = {}

    def note_backend(session, flush_context):
        if "pid" not in backend and any(isinstance(row, Case) for row in session.new):
            backend["pid"] = (
                session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
            )

    def drop_connection(session):
        if backend.get("pid") and "dropped" not in backend:
            backend["dropped"] = True
            with admin.connect() as conn:
                conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": backend["pid"]})

    def still_away(conn, cursor, statement, parameters, context, executemany):
        if backend.get("dropped"):  # and the database stays away until the answer is sent
            raise _lost(statement)

    sa.event.listen(Session, "after_flush", note_backend)
    sa.event.listen(Session, "after_commit", drop_connection)
    sa.event.listen(db.engine, "before_cursor_execute", still_away)
    try:
        response = client.post(f"/meldpunt/{meldpunt.slug}/melden", data=data)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", still_away)
        sa.event.remove(Session, "after_flush", note_backend)
        sa.event.remove(Session, "after_commit", drop_connection)
        admin.dispose()

    assert backend.get("dropped") and response.status_code == 200
    code = _code(response).replace(" ", "")
    db.session.rollback()
    assert case_for_receipt_code(code) is not None and count(Case) == 1


@pytest.mark.skipif(not POSTGRESQL, reason="the timeouts are PostgreSQL's")
def test_web_connections_have_timeouts_and_commands_none(app, monkeypatch):
    # A command run earlier in this test process (the CLI tests) set it for the process.
    monkeypatch.setitem(database._COMMANDS, "on", False)
    db.engine.dispose()
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "15s"
        assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "5s"
    db.engine.dispose()
    monkeypatch.setitem(database._COMMANDS, "on", True)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "0"
    db.engine.dispose()
    options = database.engine_options(app.config)
    assert options["pool_pre_ping"] is True
    assert options["connect_args"]["connect_timeout"] == 5
    assert options["connect_args"]["tcp_user_timeout"] == 5000


class _RefusalError(Exception):
    def __init__(self, sqlstate: str):
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("kind", "sqlstate", "expected"),
    [
        (sa.exc.InternalError, "25006", True),  # read-only: a standby during a fail-over
        (sa.exc.OperationalError, "53100", True),  # disk full
        (sa.exc.OperationalError, "57P01", True),  # the server is shutting down
        (sa.exc.DatabaseError, "08006", True),  # the connection failed
        (sa.exc.IntegrityError, "23505", False),  # a real conflict: no retry, no 503
        (sa.exc.ProgrammingError, "42P01", False),  # a bug: the 500 it is
    ],
)
def test_what_counts_as_the_database_being_away(kind, sqlstate, expected):
    assert database.unavailable(kind("INSERT", {}, _RefusalError(sqlstate))) is expected


def test_a_read_only_database_keeps_the_report_on_a_503(client, meldpunt):
    data = _form(client, meldpunt)

    def read_only(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO REPORT_CASE"):
            raise sa.exc.InternalError(statement, {}, _RefusalError("25006"))

    sa.event.listen(db.engine, "before_cursor_execute", read_only)
    try:
        response = client.post(f"/meldpunt/{meldpunt.slug}/melden", data=data)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", read_only)
    assert response.status_code == 503
    assert FormState(page_text(response)).values["narrative"] == [NARRATIVE]


def _try_count(app, work, replay_safe=False) -> int:
    calls = []

    def counted():
        calls.append(1)
        return work()

    with app.test_request_context("/", method="POST"):
        if replay_safe:
            database.replay_safe()
        with contextlib.suppress(sa.exc.DBAPIError):
            database.retrying(counted)
    return len(calls)


def test_a_try_that_committed_is_not_run_again_unless_it_records_itself_once(app):
    make_meldpunt()

    def commits_then_loses_the_database():
        make_user(Role.HANDLER)
        db.session.commit()
        raise _lost()

    assert _try_count(app, commits_then_loses_the_database) == 1
    assert _try_count(app, commits_then_loses_the_database, replay_safe=True) == 4


def test_a_statement_timeout_is_answered_calmly_but_never_tried_again(app):
    timeout = sa.exc.OperationalError("SELECT", {}, _RefusalError("57014"))

    def slow():
        raise timeout

    assert database.unavailable(timeout) and database.timed_out(timeout)
    assert _try_count(app, slow) == 1


def test_a_login_during_an_outage_puts_no_password_on_the_page(client):
    user = make_user(Role.HANDLER, email="hanna@school.example")
    db.session.commit()
    password = "een heel geheim wachtwoord met spaties erin"
    email = user.email
    with refusing("SELECT user_account"):
        response = client.post("/inloggen", data={"email": email, "password": password})
    assert response.status_code == 503
    page = page_text(response)
    assert password not in page and "hanna@school.example" not in page
    assert "<form" not in page.split("</header>")[-1].split("<footer")[0]


def test_a_report_without_a_submission_id_is_not_sent_twice(client, meldpunt, monkeypatch):
    data = _form(client, meldpunt)
    del data["submission_id"]
    with answer_lost(monkeypatch, Case) as state:
        response = client.post(f"/meldpunt/{meldpunt.slug}/melden", data=data)
    assert state["lost"] == 1
    assert response.status_code == 503
    assert "We weten niet zeker of dit al is opgeslagen" in page_text(response)
    assert count(Case) == 1
