"""Long commands show progress on a terminal and nothing in cron, and `--json` gives a
summary a script can read."""

from __future__ import annotations

import io
import json

from cryptography.fernet import Fernet

from stagepact.cli import terminal_progress
from stagepact.extensions import db
from tests.factories import make_case_with_everything


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_one_updating_line_on_a_terminal_and_nothing_elsewhere():
    terminal = Terminal()
    with terminal_progress(terminal) as report:
        report("rotate-key", 500, None)
        report("retention", 3, 10)
    assert (
        terminal.getvalue()
        == "\r" + "rotate-key: 500".ljust(60) + "\r" + "retention: 3 / 10".ljust(60) + "\n"
    )

    cron = io.StringIO()  # not a terminal: a log file, a pipe, cron's mail
    with terminal_progress(cron) as report:
        report("rotate-key", 500, None)
    assert cron.getvalue() == ""


def test_rotate_key_json_summarises_and_the_sentences_stay_out(app, runner, monkeypatch):
    make_case_with_everything()
    db.session.commit()
    old = list(app.config["ENCRYPTION_KEYS"])
    monkeypatch.setitem(app.config, "ENCRYPTION_KEYS", [Fernet.generate_key().decode(), *old])
    result = runner.invoke(args=["stagepact", "rotate-key", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["fields"]["report_case"] >= 1 and summary["files"] >= 1
    assert summary["unreadable"] == [] and "\r" not in result.output


def test_retention_and_import_give_json(app, runner, tmp_path):
    dry = json.loads(runner.invoke(args=["stagepact", "retention", "--dry-run", "--json"]).output)
    assert dry == {"dry_run": True, "due": [], "cases": 0, "mails": 0}
    register = tmp_path / "register.csv"
    register.write_text("kvk,naam\n12345678,Garage Vonk BV\nfout,\n", encoding="utf-8")
    result = runner.invoke(args=["stagepact", "import-companies", str(register), "--json"])
    summary = json.loads(result.output)
    assert (summary["inserted"], summary["updated"], summary["unchanged"]) == (1, 0, 0)
    assert [row["line"] for row in summary["rejected"]] == [3]


def test_demo_json_names_what_it_loaded(app, runner):
    result = runner.invoke(args=["stagepact", "demo", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["loaded"] is True and summary["cases"] > 40 and summary["logins"]
    again = runner.invoke(args=["stagepact", "demo", "--if-empty", "--json"])
    assert json.loads(again.output) == {"loaded": False}
