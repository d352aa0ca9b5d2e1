"""The student's report form: only the story is required, and bad input never loses what was typed."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from stagepact import vocab
from stagepact.extensions import db
from stagepact.models import Case
from stagepact.scoping import handlers_of
from stagepact.student.forms import NARRATIVE_MAX
from stagepact.vocab import ConsentKind, ConsentSource
from tests.factories import make_institution, make_user
from tests.helpers import FormState, count, field_error

# A report with every field filled in, each with a value that is easy to recognise.
FULL = {
    "narrative": "Op de stagemarkt zei de recruiter: 'geen hoofddoeken aan de balie'.\r\nDaarna liep hij weg.",
    "incident_date": "2025-03-14",
    "incident_period": "half maart, op een dinsdag",
    "phase": "application",
    "who": "company",
    "form": "refused",
    "grounds": ["religion", "gender"],
    "company_text": "Bakkerij De Korenschoof, Zeist",
    "reporter_role": "witness",
    "programme": "Verzorgende IG",
    "level": "3",
    "path": "bbl",
    "study_year": "2",
    "wishes": ["conversation", "address_company"],
    "anonymity": "named",
    "reporter_name": "Sanne de Vries-Öztürk",
    "student_number": "S123456",
    "email": "sanne.devries@voorbeeld.nl",
    "phone": "+31 6 12345678",
    "contact_preference": "email",
    "consent_contact": "y",
    "consent_adv": "y",
    "consent_sbb": "y",
    "consent_sbb_identity": "y",
}
TEXT_FIELDS = (
    "narrative",
    "incident_date",
    "incident_period",
    "company_text",
    "programme",
    "reporter_name",
    "student_number",
    "email",
    "phone",
)
CHOICES = {
    "phase": vocab.PHASES,
    "who": vocab.WHO,
    "form": vocab.FORMS,
    "grounds": vocab.GROUNDS,
    "reporter_role": vocab.REPORTER_ROLES,
    "level": vocab.LEVELS,
    "path": vocab.PATHS,
    "study_year": {"1": 1, "2": 2, "3": 3, "4": 4},
    "wishes": vocab.WISHES,
    "anonymity": {"anonymous": 1, "named": 2},
    "contact_preference": vocab.CONTACT_PREFERENCES,
    "consent_contact": {"y": 1},
    "consent_adv": {"y": 1},
    "consent_sbb": {"y": 1},
    "consent_sbb_identity": {"y": 1},
}
CSRF_MESSAGE = "formulier stond te lang open"


def _error_fields(page: str) -> set[str]:
    return set(re.findall(r'class="field-error" id="([\w-]+)-error"', page))


def _as_list(value) -> list[str]:
    return value if isinstance(value, list) else [value]


def _assert_everything_typed_is_kept(page: str, posted: dict) -> None:
    state = FormState(page).values
    for name, value in posted.items():
        if name == "csrf_token":
            continue
        if name in TEXT_FIELDS:
            assert state.get(name) == [value], f"{name} lost what was typed"
        else:
            valid = [v for v in _as_list(value) if v in CHOICES[name]]
            assert sorted(state.get(name, [])) == sorted(valid), f"{name} lost its choice"


@pytest.fixture
def institution():
    institution = make_institution(name="Horizon Testcollege")
    make_user(institution=institution)
    db.session.commit()
    return institution


def _post(client, institution, data):
    return client.post(f"/meldpunt/{institution.slug}/melden", data=data)


def _assert_receipt_shown(response) -> None:
    """An accepted report answers its POST with the receipt page itself, not a redirect."""
    assert response.status_code == 200
    assert "Location" not in response.headers
    page = response.get_data(as_text=True)
    assert re.search(r'class="receipt-code"[^>]*>\d{4} \d{4} \d{4} \d{4}<', page)


# --- What is required, and a report with almost nothing ---------------------------


def test_only_the_narrative_is_required(client, institution):
    response = _post(client, institution, {})

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert _error_fields(page) == {"narrative"}
    assert "Vertel kort wat er gebeurd is" in field_error(page, "narrative")
    assert count(Case) == 0


def test_a_page_with_errors_says_so_in_its_title_which_a_screen_reader_reads_first(
    client, institution
):
    fine = client.get(f"/meldpunt/{institution.slug}/melden").get_data(as_text=True)
    refused = _post(client, institution, {}).get_data(as_text=True)

    assert re.search(r"<title>Melding maken · ", fine)
    assert re.search(r"<title>Fout: Melding maken · ", refused)
    assert refused.count('<h2 id="part-what">') == 1  # the content is rendered once
    assert refused.count('class="error-summary"') == 1


def test_report_with_only_a_narrative_opens_an_anonymous_case(client, institution):
    response = _post(
        client, institution, {"narrative": "  Ze wilden mij niet vanwege mijn naam.  "}
    )

    _assert_receipt_shown(response)
    case = db.session.scalar(sa.select(Case))
    assert case.narrative == "Ze wilden mij niet vanwege mijn naam."
    assert case.institution_id == institution.id
    assert case.is_anonymous and case.reporter_name is None and case.email is None
    assert case.reporter_role == "self" and case.contact_preference == "none"
    assert case.ground_codes == [] and case.wish_codes == []
    assert case.phase is None and case.level is None and case.incident_date is None
    assert not (case.consent_adv or case.consent_contact or case.consent_sbb_identity)


def test_narrative_of_exactly_the_maximum_length_is_accepted(client, institution):
    response = _post(client, institution, {"narrative": "a" * NARRATIVE_MAX})

    _assert_receipt_shown(response)
    assert len(db.session.scalar(sa.select(Case)).narrative) == NARRATIVE_MAX


def test_report_with_every_field_is_stored_as_typed(client, institution):
    response = _post(client, institution, FULL)

    _assert_receipt_shown(response)
    case = db.session.scalar(sa.select(Case))
    assert case.narrative == FULL["narrative"]
    assert case.incident_date == date(2025, 3, 14)
    assert case.incident_period == FULL["incident_period"]
    assert (case.phase, case.who, case.form) == ("application", "company", "refused")
    assert case.ground_codes == ["gender", "religion"]
    assert case.wish_codes == ["address_company", "conversation"]
    assert case.company_text == FULL["company_text"]
    assert (case.reporter_role, case.programme, case.level, case.path, case.study_year) == (
        "witness",
        "Verzorgende IG",
        "3",
        "bbl",
        2,
    )
    assert not case.is_anonymous
    assert (case.reporter_name, case.student_number, case.email, case.phone) == (
        FULL["reporter_name"],
        "S123456",
        "sanne.devries@voorbeeld.nl",
        "+31 6 12345678",
    )
    assert case.contact_preference == "email"
    assert case.consent_adv and case.consent_contact and case.consent_sbb_identity
    assert case.consent_sbb
    recorded = {(c.kind, c.given, c.source) for c in case.consents}
    assert recorded == {
        (kind, True, ConsentSource.FORM)
        for kind in (
            ConsentKind.CONTACT,
            ConsentKind.ADV,
            ConsentKind.SBB,
            ConsentKind.SBB_IDENTITY,
        )
    }


def test_the_name_for_sbb_needs_the_report_to_go_to_sbb_first(client, institution):
    response = _post(client, institution, {**FULL, "consent_sbb": ""})

    assert response.status_code == 422
    assert "Vink dat ook aan" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0


# --- Bad input: a message beside the field, nothing typed is lost ----------------------

TOMORROW = (date.today() + timedelta(days=1)).isoformat()

BAD_INPUT = [
    pytest.param(
        {"narrative": ""}, "narrative", "Vertel kort wat er gebeurd is", id="empty-narrative"
    ),
    pytest.param({"narrative": " \r\n\t "}, "narrative", "Vertel kort", id="blank-narrative"),
    pytest.param(
        {"narrative": "lang " * 4001}, "narrative", "Je tekst is te lang", id="narrative-too-long"
    ),
    pytest.param({"email": "sanne@@voorbeeld"}, "email", "geen geldig e-mailadres", id="bad-email"),
    pytest.param({"phone": "06-bel-mij-maar"}, "phone", "Gebruik alleen cijfers", id="bad-phone"),
    pytest.param({"phone": "+31 6 1234 5678 9012 345"}, "phone", "te lang", id="long-phone"),
    pytest.param(
        {"student_number": "S12 34!"}, "student_number", "letters en cijfers", id="bad-number"
    ),
    pytest.param({"incident_date": TOMORROW}, "incident_date", "toekomst", id="future-date"),
    pytest.param({"incident_date": "1999-12-31"}, "incident_date", "na 2000", id="old-date"),
    pytest.param({"incident_date": "gisteren"}, "incident_date", "datum", id="words-for-date"),
    pytest.param({"incident_date": "2025-02-30"}, "incident_date", "datum", id="no-such-date"),
    pytest.param(
        {"incident_period": "ongeveer " * 20}, "incident_period", "100 tekens", id="long-period"
    ),
    pytest.param(
        {"grounds": ["religion", "hacker"]}, "grounds", "Kies een van de", id="unknown-ground"
    ),
    pytest.param({"wishes": ["world_peace"]}, "wishes", "Kies een van de", id="unknown-wish"),
    pytest.param({"phase": "hacker"}, "phase", "Kies een van de", id="unknown-phase"),
    pytest.param({"who": "the-cat"}, "who", "Kies een van de", id="unknown-who"),
    pytest.param({"form": "x'; --"}, "form", "Kies een van de", id="unknown-form"),
    pytest.param({"path": "mavo"}, "path", "Kies een van de", id="unknown-path"),
    pytest.param({"level": "9"}, "level", "Kies een van de", id="unknown-level"),
    pytest.param({"study_year": "7"}, "study_year", "Kies een van de", id="unknown-year"),
    pytest.param(
        {"reporter_role": "bystander"}, "reporter_role", "Kies een van de", id="unknown-role"
    ),
    pytest.param(
        {"contact_preference": "pigeon"},
        "contact_preference",
        "Kies een van de",
        id="unknown-contact",
    ),
    pytest.param({"anonymity": "maybe"}, "anonymity", "Kies een van de", id="unknown-anonymity"),
    pytest.param(
        {"anonymity": "anonymous"},
        "reporter_name",
        "Je koos voor anoniem melden",
        id="anonymous-with-a-name",
    ),
    pytest.param(
        {"anonymity": "anonymous", "contact_preference": "phone"},
        "contact_preference",
        "Anoniem melden kan alleen zonder contact",
        id="anonymous-wanting-a-call",
    ),
    pytest.param({"reporter_name": "   "}, "reporter_name", "Vul je naam in", id="named-no-name"),
    pytest.param(
        {"email": "", "contact_preference": "email"},
        "email",
        "Vul je e-mailadres in",
        id="email-contact-without-email",
    ),
    pytest.param(
        {"phone": "", "contact_preference": "phone"},
        "phone",
        "Vul je telefoonnummer in",
        id="phone-contact-without-phone",
    ),
]


@pytest.mark.parametrize("change, field, message", BAD_INPUT)
def test_bad_input_is_shown_beside_the_field_with_everything_kept(
    client, institution, change, field, message
):
    posted = {**FULL, **change}

    response = _post(client, institution, posted)

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    error = field_error(page, field)
    assert error is not None, f"no error beside {field}"
    assert message in error
    # The field points at its error, so that a screen reader reads them together.
    assert f"{field}-error" in FormState(page).elements[field]["aria-describedby"]
    assert f'href="#{field}"' in page  # the summary at the top links to the field
    _assert_everything_typed_is_kept(page, posted)
    assert count(Case) == 0


# --- CSRF: an expired or missing token loses nothing --------------------------------


def _csrf_token_from(client, institution) -> str:
    page = client.get(f"/meldpunt/{institution.slug}/melden").get_data(as_text=True)
    return FormState(page).values["csrf_token"][0]


@pytest.mark.parametrize(
    "token", [None, "", "IjEyMzQ1Njc4OTAi.bogus.token"], ids=["missing", "empty", "wrong"]
)
def test_form_without_a_valid_csrf_token_is_shown_again_with_everything_typed(
    client, institution, csrf_enabled, token
):
    _csrf_token_from(client, institution)  # the browser has a session, as a real one would
    posted = dict(FULL) if token is None else {**FULL, "csrf_token": token}

    response = _post(client, institution, posted)

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert CSRF_MESSAGE in page
    _assert_everything_typed_is_kept(page, posted)
    assert count(Case) == 0


def test_csrf_token_of_another_browser_is_refused(client, app, institution, csrf_enabled):
    other_browser = app.test_client()
    token = _csrf_token_from(other_browser, institution)
    _csrf_token_from(client, institution)

    response = _post(client, institution, {**FULL, "csrf_token": token})

    assert response.status_code == 422
    assert CSRF_MESSAGE in response.get_data(as_text=True)
    assert count(Case) == 0


def test_form_with_its_own_csrf_token_is_accepted(client, institution, csrf_enabled):
    token = _csrf_token_from(client, institution)

    response = _post(client, institution, {**FULL, "csrf_token": token})

    _assert_receipt_shown(response)
    assert count(Case) == 1


# --- Whatever is typed: never a 500, never unescaped markup ---------------------------

NASTY = [
    "<script>alert('x')</script>",
    '"><img src=x onerror=alert(1)>',
    "</textarea><script>alert(2)</script>",
    "'; DROP TABLE report_case; --",
    "' OR '1'='1",
    "\u202egnp.exe\u202c",  # right-to-left override
    "\u200f\u200e\u061c",  # right-to-left and left-to-right marks
    "\x00",
    "\x07\x08\x1b[2J\x7f",
    "\r\n",
    "{{ config }}{% raw %}",
    "%(name)s %s",
    "&amp; &lt;b&gt;",
    "\ufeff\ufffe",
    "👩🏽‍🎓",
    "\U0010ffff",
]
MARKUP = ("<script", "<img")
fragments = st.one_of(st.sampled_from(NASTY), st.text(max_size=40))
typed_text = st.one_of(
    st.lists(fragments, min_size=1, max_size=8).map("".join),
    st.builds(
        lambda piece, times: piece * times,
        st.sampled_from([*NASTY, "x", "é"]),
        st.integers(min_value=100, max_value=2500),
    ),
)
FREE_TEXT_FIELDS = [f for f in TEXT_FIELDS if f != "incident_date"]


@pytest.fixture
def handler_client(client, auth, institution):
    """A handler of the institution, logged in, to read the cases on the desk."""
    auth.login(handlers_of(institution.id)[0])
    return client


@settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(field=st.sampled_from(FREE_TEXT_FIELDS), text=typed_text, reshow=st.booleans())
@example(field="company_text", text="Bakkerij\x00 De Korf", reshow=False)  # NUL, stored
@example(field="narrative", text="<script>alert('x')</script>\u202e", reshow=False)
@example(field="programme", text="</textarea><script>alert(2)</script>", reshow=True)
def test_any_typed_text_is_stored_or_shown_again_escaped(
    app, handler_client, institution, field, text, reshow
):
    student = app.test_client()
    posted = {
        "narrative": "Basisverhaal.",
        "anonymity": "named",
        "reporter_name": "Sanne",
        "contact_preference": "none",
        field: text,
    }
    if reshow:
        posted["incident_date"] = "geen datum"  # forces the form to come back

    response = _post(student, institution, posted)

    assert response.status_code in (200, 422)
    page = response.get_data(as_text=True)
    for markup in MARKUP:
        if markup in text:
            assert markup not in page
    # Every text input drops NUL (no keyboard types it; PostgreSQL cannot store it).
    typed = text.replace("\x00", "")
    if response.status_code == 422:
        assert FormState(page).values[field] == [typed]
        return
    _assert_receipt_shown(response)
    case = db.session.scalar(sa.select(Case).order_by(Case.id.desc()).limit(1))
    kept = typed.strip() if field == "narrative" else typed.strip() or None
    assert getattr(case, field) == kept
    desk_page = handler_client.get(f"/behandelen/zaken/{case.id}")
    assert desk_page.status_code == 200
    desk_html = desk_page.get_data(as_text=True)
    for markup in MARKUP:
        if markup in text:
            assert markup not in desk_html


def test_markup_in_a_report_shows_escaped_on_the_handlers_case_page(
    app, handler_client, institution
):
    student = app.test_client()
    markup = {
        "narrative": "<script>alert('verhaal')</script><b>vet</b>",
        "programme": "<img src=x onerror=alert('opleiding')>",
        "company_text": "<a href='https://kwaad.example'>Bedrijf</a>",
        "reporter_name": "<i>Sanne</i>",
    }
    response = _post(
        student,
        institution,
        {**markup, "anonymity": "named", "contact_preference": "none"},
    )
    _assert_receipt_shown(response)
    case = db.session.scalar(sa.select(Case))

    page = handler_client.get(f"/behandelen/zaken/{case.id}").get_data(as_text=True)

    assert "&lt;script&gt;alert(&#39;verhaal&#39;)&lt;/script&gt;&lt;b&gt;vet&lt;/b&gt;" in page
    assert "&lt;img src=x onerror=alert(&#39;opleiding&#39;)&gt;" in page
    assert "&lt;i&gt;Sanne&lt;/i&gt;" in page
    for raw in ("<script", "<b>vet", "<img", "kwaad.example'>", "<i>Sanne"):
        assert raw not in page
