"""Forms for inviting staff and for an institution's own settings."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    EmailField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    Email,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from .. import colours, vocab
from ..forms import BaseForm
from ..i18n import NAMES, STAFF_LANGUAGES


def _printable_name(form, field) -> None:
    from ..accounts import name_problem

    problem = name_problem(field.data or "")
    if problem:
        raise ValidationError(problem)


class InviteForm(BaseForm):
    name = StringField(
        _l("Naam"),
        validators=[DataRequired(_l("Vul de naam in.")), Length(max=200), _printable_name],
    )
    email = EmailField(
        _l("E-mailadres"),
        validators=[
            DataRequired(_l("Vul het e-mailadres in.")),
            Length(max=254),
            Email(_l("Dit is geen geldig e-mailadres."), check_deliverability=False),
        ],
    )
    role = SelectField(_l("Rol"), validators=[DataRequired(_l("Kies een rol."))])
    institution_id = SelectField(_l("Instelling"), validators=[Optional()])
    language = SelectField(
        _l("Taal van de uitnodiging"),
        choices=[
            SelectChoice(code, NAMES[code], render_kw={"lang": code}) for code in STAFF_LANGUAGES
        ],
        default=STAFF_LANGUAGES[0],
        validators=[DataRequired(_l("Kies een taal."))],
    )

    def __init__(self, roles=(), institutions=(), *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.role.choices = [SelectChoice(str(r), vocab.ROLE_LABELS[r]) for r in roles]
        self.institution_id.choices = [SelectChoice("", _l("Geen (niet voor een instelling)"))] + [
            SelectChoice(str(i.id), i.name) for i in institutions
        ]


class SettingsForm(BaseForm):
    intro_text = TextAreaField(
        _l("Eigen tekst op het meldpunt"),
        validators=[Optional(), Length(max=5000, message=_l("Gebruik hoogstens 5000 tekens."))],
    )
    ack_working_days = IntegerField(
        _l("Ontvangst bevestigen binnen (werkdagen)"),
        validators=[
            DataRequired(_l("Vul een aantal werkdagen in.")),
            NumberRange(1, 30, _l("Kies tussen 1 en 30 werkdagen.")),
        ],
    )
    feedback_months = IntegerField(
        _l("Terugkoppelen binnen (maanden na bevestiging)"),
        validators=[
            DataRequired(_l("Vul een aantal maanden in.")),
            NumberRange(1, 12, _l("Kies tussen 1 en 12 maanden.")),
        ],
    )
    overdue_repeat_days = IntegerField(
        _l("Bij een verlopen termijn opnieuw herinneren, elke (werkdagen)"),
        validators=[
            DataRequired(_l("Vul een aantal werkdagen in.")),
            NumberRange(1, 10, _l("Kies tussen 1 en 10 werkdagen.")),
        ],
    )
    overdue_admin_days = IntegerField(
        _l("Beheerders mee laten lezen vanaf (werkdagen te laat)"),
        validators=[
            DataRequired(_l("Vul een aantal werkdagen in.")),
            NumberRange(1, 30, _l("Kies tussen 1 en 30 werkdagen.")),
        ],
    )
    retention_months = IntegerField(
        _l("Persoonsgegevens bewaren na afsluiten (maanden)"),
        validators=[
            DataRequired(_l("Vul een aantal maanden in.")),
            NumberRange(1, 120, _l("Kies tussen 1 en 120 maanden.")),
        ],
    )
    require_2fa = BooleanField(_l("Meldpuntfunctionarissen loggen in met tweestapsverificatie"))
    colour = StringField(
        _l("Kleur van jullie meldpunt"),
        validators=[DataRequired(_l("Kies een kleur."))],
        render_kw={"type": "color"},
    )

    def validate_colour(self, field):
        if not colours.HEX.match(field.data or ""):
            raise ValidationError(_l("Kies een kleur, zoals #154273."))
        if not colours.readable(field.data):
            raise ValidationError(
                _l("Kies een donkerdere kleur: de witte tekst erop moet goed te lezen zijn.")
            )

    adv_id = SelectField(_l("Antidiscriminatiebureau voor studenten"), validators=[Optional()])

    def __init__(self, advs=(), *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.adv_id.choices = [SelectChoice("", _l("Geen (studenten zien discriminatie.nl)"))] + [
            SelectChoice(str(a.id), f"{a.name} ({a.region})") for a in advs
        ]
