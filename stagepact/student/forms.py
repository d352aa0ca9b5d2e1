"""The report form and the student's follow-up forms, validated on the server."""

from __future__ import annotations

import re
from datetime import date

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

from .. import companies, vocab
from ..forms import BaseForm, EvidenceMixin, row_id
from ..intake import ReportData

PHONE_RE = re.compile(r"^\+?[0-9][0-9 \-()]{5,19}$")
STUDENT_NUMBER_RE = re.compile(r"^[A-Za-z0-9\-]{1,20}$")
NARRATIVE_MAX = 20000


class OptionalRadioField(RadioField):
    """A radio group the student may leave empty; anything else must be a listed choice."""

    def pre_validate(self, form):
        if self.data in (None, "", "None"):
            self.data = None
            return
        super().pre_validate(form)


class MultiCheckboxField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def _no_future(form, field):
    if field.data and field.data > date.today():
        raise ValidationError(_l("Deze datum ligt in de toekomst."))
    if field.data and field.data.year < 2000:
        raise ValidationError(_l("Kies een datum na 2000."))


def _invalid_choice():
    return _l("Kies een van de mogelijkheden.")


class ReportForm(EvidenceMixin, BaseForm):
    """Everything a report may record; only the story itself is required."""

    # Set when the form is first shown; a re-sent POST with it opens no second case.
    submission_id = HiddenField(validators=[Optional(), Length(max=64)])

    narrative = TextAreaField(
        _l("Wat is er gebeurd?"),
        validators=[
            DataRequired(_l("Vertel kort wat er gebeurd is. Eén zin is genoeg.")),
            Length(
                max=NARRATIVE_MAX,
                message=_l("Je tekst is te lang. Maak hem korter dan 20.000 tekens."),
            ),
        ],
    )
    reporter_role = RadioField(
        _l("Wie meldt dit?"),
        choices=vocab.choices(vocab.REPORTER_ROLES),
        default="self",
        validators=[DataRequired(_l("Kies of het jou overkwam of dat je getuige was."))],
        invalid_choice_message=_invalid_choice(),
    )
    incident_date = DateField(
        _l("Wanneer gebeurde het?"),
        validators=[Optional(), _no_future],
        format=["%Y-%m-%d", "%d-%m-%Y"],
    )
    incident_period = StringField(
        _l("Weet je de datum niet precies? Schrijf dan ongeveer wanneer"),
        validators=[Optional(), Length(max=100, message=_l("Gebruik hier hoogstens 100 tekens."))],
    )
    phase = OptionalRadioField(
        _l("Wanneer in je stage gebeurde het?"),
        choices=vocab.choices(vocab.PHASES),
        invalid_choice_message=_invalid_choice(),
    )
    who = OptionalRadioField(
        _l("Wie deed het?"),
        choices=vocab.choices(vocab.WHO),
        invalid_choice_message=_invalid_choice(),
    )
    form = OptionalRadioField(
        _l("Wat gebeurde er?"),
        choices=vocab.choices(vocab.FORMS),
        invalid_choice_message=_invalid_choice(),
    )
    grounds = MultiCheckboxField(
        _l("Waarom denk je dat het gebeurde?"),
        choices=vocab.choices(vocab.GROUNDS),
        invalid_choice_message=_invalid_choice(),
    )
    company_search = StringField(
        _l("Zoek het bedrijf in het register"),
        validators=[Optional(), Length(max=100, message=_l("Gebruik hier hoogstens 100 tekens."))],
    )
    # Choices are the companies the last search found (set by the view).
    company_id = OptionalRadioField(
        _l("Welk bedrijf bedoel je?"),
        choices=[],
        invalid_choice_message=_l("Zoek het bedrijf opnieuw en kies het uit de lijst."),
    )
    company_text = StringField(
        _l("Naam en plaats van het bedrijf"),
        validators=[Optional(), Length(max=200, message=_l("Gebruik hier hoogstens 200 tekens."))],
    )
    programme = StringField(
        _l("Welke opleiding doe je?"),
        validators=[Optional(), Length(max=200, message=_l("Gebruik hier hoogstens 200 tekens."))],
    )
    level = SelectField(
        _l("Niveau"),
        choices=[SelectChoice("", _l("Zeg ik liever niet"))] + vocab.choices(vocab.LEVELS),
        validators=[Optional()],
        invalid_choice_message=_invalid_choice(),
    )
    path = OptionalRadioField(
        _l("Leerweg"),
        choices=vocab.choices(vocab.PATHS),
        invalid_choice_message=_invalid_choice(),
    )
    study_year = SelectField(
        _l("Leerjaar"),
        choices=[SelectChoice("", _l("Zeg ik liever niet"))]
        + [SelectChoice(str(y)) for y in range(1, 5)],
        validators=[Optional()],
        invalid_choice_message=_invalid_choice(),
    )
    wishes = MultiCheckboxField(
        _l("Wat wil je dat er gebeurt?"),
        choices=vocab.choices(vocab.WISHES),
        invalid_choice_message=_invalid_choice(),
    )
    anonymity = RadioField(
        _l("Wil je anoniem melden?"),
        choices=[
            SelectChoice("anonymous", _l("Ja, anoniem. School weet dan niet wie ik ben.")),
            SelectChoice("named", _l("Nee, met mijn naam. Dan kan school mij beter helpen.")),
        ],
        default="anonymous",
        validators=[DataRequired(_l("Kies of je anoniem wilt melden."))],
        invalid_choice_message=_invalid_choice(),
    )
    reporter_name = StringField(
        _l("Je naam"),
        validators=[Optional(), Length(max=200, message=_l("Gebruik hier hoogstens 200 tekens."))],
    )
    student_number = StringField(
        _l("Je studentnummer"),
        validators=[
            Optional(),
            Length(max=20, message=_l("Een studentnummer heeft hoogstens 20 tekens.")),
        ],
    )
    email = EmailField(
        _l("Je e-mailadres"),
        validators=[
            Optional(),
            Length(max=254, message=_l("Dit e-mailadres is te lang.")),
            Email(
                _l("Dit is geen geldig e-mailadres. Voorbeeld: naam@voorbeeld.nl"),
                check_deliverability=False,
            ),
        ],
    )
    phone = StringField(
        _l("Je telefoonnummer"),
        validators=[Optional(), Length(max=20, message=_l("Dit telefoonnummer is te lang."))],
    )
    contact_preference = RadioField(
        _l("Hoe wil je contact?"),
        choices=vocab.choices(vocab.CONTACT_PREFERENCES),
        default="none",
        validators=[DataRequired(_l("Kies hoe je contact wilt."))],
        invalid_choice_message=_invalid_choice(),
    )
    consent_contact = BooleanField(_l("Het meldpunt mag contact met mij opnemen."))
    consent_adv = BooleanField(
        _l("Het meldpunt mag mijn melding doorsturen naar het antidiscriminatiebureau (ADV).")
    )
    consent_sbb = BooleanField(
        _l("Het meldpunt mag mijn melding zonder mijn naam doorzetten naar SBB.")
    )
    consent_sbb_identity = BooleanField(
        _l("SBB mag ook weten wie ik ben, als school de melding doorzet naar SBB.")
    )

    IDENTITY_FIELDS = ("reporter_name", "student_number", "email", "phone")

    def validate_phone(self, field):
        if field.data and not PHONE_RE.match(field.data.strip()):
            raise ValidationError(_l("Gebruik alleen cijfers, spaties en eventueel een + vooraan."))

    def validate_student_number(self, field):
        if field.data and not STUDENT_NUMBER_RE.match(field.data.strip()):
            raise ValidationError(_l("Een studentnummer bestaat uit letters en cijfers."))

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        anonymous = self.anonymity.data == "anonymous"
        if anonymous:
            for name in self.IDENTITY_FIELDS:
                field = self[name]
                if field.data and field.data.strip():
                    field.errors.append(
                        _l(
                            "Je koos voor anoniem melden. Maak dit veld leeg, of kies 'met mijn naam'."
                        )
                    )
                    ok = False
            if self.contact_preference.data in ("email", "phone", "in_person"):
                self.contact_preference.errors.append(
                    _l(
                        "Anoniem melden kan alleen zonder contact. Je kunt wel via deze website berichten lezen."
                    )
                )
                ok = False
            if self.consent_sbb_identity.data:
                self.consent_sbb_identity.errors.append(
                    _l("Je koos voor anoniem melden. Dan kan SBB niet weten wie je bent.")
                )
                ok = False
        if self.consent_sbb_identity.data and not self.consent_sbb.data:
            self.consent_sbb_identity.errors.append(
                _l("SBB krijgt je naam alleen als je melding naar SBB mag. Vink dat ook aan.")
            )
            ok = False
        if not anonymous:
            if not (self.reporter_name.data or "").strip():
                self.reporter_name.errors.append(_l("Vul je naam in, of kies voor anoniem melden."))
                ok = False
            if self.contact_preference.data == "email" and not (self.email.data or "").strip():
                self.email.errors.append(_l("Vul je e-mailadres in, dan kunnen we je mailen."))
                ok = False
            if self.contact_preference.data == "phone" and not (self.phone.data or "").strip():
                self.phone.errors.append(_l("Vul je telefoonnummer in, dan kunnen we je bellen."))
                ok = False
        return ok

    def prepare_companies(self, searching: bool) -> None:
        """Offer the companies a search found, keeping the one chosen before.

        Without JavaScript, "search" is a second submit button: the form comes
        back with everything typed and the companies to choose from.
        """
        chosen_id = self.company_id.data
        chosen = companies.get(row_id(chosen_id))
        found = companies.search(self.company_search.data or "") if searching else []
        if chosen is not None and chosen not in found:
            found.append(chosen)
        self.company_searched = searching
        self.company_id.choices = [
            SelectChoice(str(c.id), f"{c.name}, {c.city}" + (f" (KvK {c.kvk})" if c.kvk else ""))
            for c in found
        ]
        if found:
            self.company_id.choices.append(SelectChoice("", _l("Geen van deze bedrijven")))

    def to_report_data(self) -> ReportData:
        def text(field) -> str | None:
            value = (field.data or "").strip()
            return value or None

        anonymous = self.anonymity.data == "anonymous"
        return ReportData(
            narrative=self.narrative.data.strip(),
            reporter_role=self.reporter_role.data,
            is_anonymous=anonymous,
            reporter_name=None if anonymous else text(self.reporter_name),
            student_number=None if anonymous else text(self.student_number),
            email=None if anonymous else text(self.email),
            phone=None if anonymous else text(self.phone),
            contact_preference=self.contact_preference.data,
            programme=text(self.programme),
            level=self.level.data or None,
            path=self.path.data or None,
            study_year=int(self.study_year.data) if self.study_year.data else None,
            incident_date=self.incident_date.data,
            incident_period=text(self.incident_period),
            phase=self.phase.data or None,
            who=self.who.data or None,
            form=self.form.data or None,
            grounds=list(self.grounds.data or []),
            company_id=row_id(self.company_id.data),
            company_text=text(self.company_text),
            wishes=list(self.wishes.data or []),
            consent_adv=bool(self.consent_adv.data),
            consent_sbb=bool(self.consent_sbb.data),
            consent_sbb_identity=bool(self.consent_sbb_identity.data),
            consent_contact=bool(self.consent_contact.data),
        )


# One message for every code that opens nothing: empty, malformed or unknown alike.
CODE_NOT_FOUND = _l(
    "Met deze code kunnen we geen melding openen. Controleer de cijfers en probeer het opnieuw."
)


class ReceiptCodeForm(BaseForm):
    code = StringField(
        _l("Je ontvangstcode"),
        validators=[DataRequired(CODE_NOT_FOUND), Length(max=64, message=CODE_NOT_FOUND)],
        render_kw={"inputmode": "numeric", "autocomplete": "off", "spellcheck": "false"},
    )
    # A message typed while the case page timed out: sent once the code opens the case.
    pending_message = TextAreaField(
        _l("Je bericht, dat nog niet is verstuurd"),
        validators=[
            Optional(),
            Length(
                max=NARRATIVE_MAX,
                message=_l("Je bericht is te lang. Maak het korter dan 20.000 tekens."),
            ),
        ],
    )


class NoticeEmailForm(BaseForm):
    notify_email = EmailField(
        _l("E-mailadres voor berichten"),
        validators=[
            DataRequired(_l("Vul een e-mailadres in.")),
            Length(max=254, message=_l("Dit e-mailadres is te lang.")),
            Email(
                _l("Dit is geen geldig e-mailadres. Voorbeeld: naam@voorbeeld.nl"),
                check_deliverability=False,
            ),
        ],
    )


class StudentMessageForm(EvidenceMixin, BaseForm):
    body = TextAreaField(
        _l("Je bericht"),
        validators=[
            DataRequired(_l("Schrijf eerst je bericht.")),
            Length(
                max=NARRATIVE_MAX,
                message=_l("Je bericht is te lang. Maak het korter dan 20.000 tekens."),
            ),
        ],
    )


class WithdrawForm(BaseForm):
    confirm = BooleanField(
        _l("Ja, ik wil mijn melding intrekken."),
        validators=[DataRequired(_l("Zet een vinkje als je je melding echt wilt intrekken."))],
    )
    reason = TextAreaField(
        _l("Wil je zeggen waarom?"),
        validators=[
            Optional(),
            Length(max=2000, message=_l("Gebruik hier hoogstens 2000 tekens.")),
        ],
    )


class ErasureRequestForm(BaseForm):
    confirm = BooleanField(
        _l("Ja, ik wil dat het meldpunt mijn gegevens wist."),
        validators=[
            DataRequired(_l("Zet een vinkje als je echt wilt dat je gegevens gewist worden."))
        ],
    )
