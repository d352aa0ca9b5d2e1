"""The shipped catalogues are complete and up to date with the code.

Dutch is the source language (the msgids). English covers every page and
mail; Arabic, Turkish and Polish cover what a student sees: their pages,
the shared form and error templates, the vocabularies and their mails.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "translations"
STUDENT_SOURCES = (
    "templates/student/",
    "templates/base.html",
    "templates/_forms.html",
    "templates/_pagination.html",
    "templates/errors/",
    "templates/mail/student_",
    "stagepact/student/",
    "stagepact/forms.py",
    "stagepact/attachments.py",
    "stagepact/vocab.py",
    "stagepact/notify.py",
    "stagepact/i18n.py",
    "stagepact/language.py",
)
EVERYTHING = ("en",)
STUDENT_ONLY = ("ar", "tr", "pl")
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]")


def _read(path: Path):
    with path.open("rb") as handle:
        return read_po(handle)


@pytest.fixture(scope="module")
def fresh_template(tmp_path_factory) -> Path:
    """The template as the code and templates are now."""
    target = tmp_path_factory.mktemp("babel") / "messages.pot"
    CommandLineInterface().run(
        [
            "pybabel",
            "--quiet",
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "-o",
            str(target),
            str(ROOT),
        ]
    )
    return target


def _ids(catalogue) -> set:
    return {m.id for m in catalogue if m.id}


def test_the_shipped_template_is_up_to_date_with_the_code(fresh_template):
    shipped, fresh = _ids(_read(TRANSLATIONS / "messages.pot")), _ids(_read(fresh_template))
    assert fresh - shipped == set(), "new strings: run pybabel extract and update"
    assert shipped - fresh == set(), "strings no longer in the code: run pybabel extract"


@pytest.mark.parametrize("language", [*EVERYTHING, *STUDENT_ONLY])
def test_each_catalogue_has_exactly_the_templates_strings(fresh_template, language):
    catalogue = _read(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po")
    assert _ids(catalogue) == _ids(_read(fresh_template)), f"run pybabel update for {language}"


def _relative(path: str) -> str:
    candidate = Path(path)
    return candidate.relative_to(ROOT).as_posix() if candidate.is_absolute() else path


def _needed(message, language: str) -> bool:
    if language in EVERYTHING:
        return True
    return any(_relative(path).startswith(STUDENT_SOURCES) for path, _line in message.locations)


def _translations(message) -> list[str]:
    return list(message.string) if isinstance(message.string, tuple | list) else [message.string]


def test_the_student_sources_are_found(fresh_template):
    student = [m for m in _read(fresh_template) if m.id and _needed(m, "ar")]
    assert len(student) > 300  # the selection by path works


@pytest.mark.parametrize("language", [*EVERYTHING, *STUDENT_ONLY])
def test_every_needed_string_is_translated(fresh_template, language):
    catalogue = _read(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po")
    locations = {m.id: m.locations for m in _read(fresh_template) if m.id}
    missing = []
    for message in catalogue:
        if not message.id:
            continue
        message.locations = locations.get(message.id, message.locations)
        if _needed(message, language) and (
            message.fuzzy or not all(t.strip() for t in _translations(message))
        ):
            missing.append(message.id if isinstance(message.id, str) else message.id[0])
    assert missing == [], f"{len(missing)} untranslated in {language}: {missing[:5]}"


@pytest.mark.parametrize("language", [*EVERYTHING, *STUDENT_ONLY])
def test_translations_keep_every_placeholder(language):
    catalogue = _read(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po")
    wrong = []
    for message in catalogue:
        if not message.id or not message.string:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        expected = set(PLACEHOLDER.findall(" ".join(ids)))
        for text in _translations(message):
            if text and set(PLACEHOLDER.findall(text)) != expected:
                wrong.append((ids[0], text))
    assert wrong == []


def test_a_student_page_speaks_the_chosen_language(client, app):
    from stagepact.extensions import db
    from tests.factories import make_institution

    institution = make_institution(name="Testcollege Noord")
    db.session.commit()
    for language, expected_dir in (("en", "ltr"), ("ar", "rtl"), ("tr", "ltr"), ("pl", "ltr")):
        chosen = client.post("/taal", data={"lang": language, "next": "/"})
        assert chosen.status_code == 303
        page = client.get(f"/meldpunt/{institution.slug}").get_data(as_text=True)
        assert f'<html lang="{language}" dir="{expected_dir}">' in page
        assert "Meldpunt stagediscriminatie van" not in page  # the Dutch heading is translated


def test_the_browser_preference_is_the_first_guess(client):
    page = client.get("/", headers={"Accept-Language": "tr-TR,tr;q=0.9,en;q=0.5"})
    assert '<html lang="tr"' in page.get_data(as_text=True)


def test_the_chosen_language_must_exist_and_the_return_path_stays_on_the_site(client):
    assert client.post("/taal", data={"lang": "xx", "next": "/"}).status_code == 400
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = client.post("/taal", data={"lang": "en", "next": target})
        assert response.headers["Location"].endswith("/")
        assert "evil" not in response.headers["Location"]


def test_a_students_mail_goes_in_the_language_they_reported_in(app):
    import sqlalchemy as sa

    from stagepact import notify
    from stagepact.extensions import db
    from stagepact.models import OutboxMail
    from tests.factories import make_case

    case = make_case()[0]
    case.language = "tr"
    case.notify_email = "leerling@example.org"
    notify.student_of_news(case)
    db.session.flush()
    mail = db.session.scalars(
        sa.select(OutboxMail).where(OutboxMail.purpose == "student_news")
    ).one()
    assert mail.subject != "Er is nieuws over je melding"  # not the Dutch source
    assert mail.subject  # a Turkish subject from the catalogue
