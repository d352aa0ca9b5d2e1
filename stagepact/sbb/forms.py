"""Forms of SBB's pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from .. import vocab
from ..forms import BaseForm

TEXT_MAX = 5000


def _sensible_year(form, field):
    if field.data and not 2000 <= field.data.year <= 2100:
        raise ValidationError(_l("Kies een datum tussen 2000 en 2100."))


class QueueFilterForm(BaseForm):
    class Meta:
        csrf = False

    status = SelectField(
        _l("Stand"),
        choices=[
            SelectChoice("open", _l("Alle lopende onderzoeken")),
            SelectChoice("all", _l("Alle onderzoeken")),
        ]
        + vocab.choices(vocab.INVESTIGATION_STATUS_LABELS),
        default="open",
        validators=[Optional()],
    )
    overdue = BooleanField(_l("Alleen over de termijn"))


class CompanySearchForm(BaseForm):
    class Meta:
        csrf = False

    q = StringField(
        _l("Zoek op naam, plaats of KvK-nummer"), validators=[Optional(), Length(max=100)]
    )


class DecideForm(BaseForm):
    decision = SelectField(
        _l("Besluit"),
        choices=[SelectChoice("", _l("Kies een besluit"))] + vocab.choices(vocab.DECISION_LABELS),
        validators=[DataRequired(_l("Kies een besluit."))],
    )
    reasoning = TextAreaField(
        _l("Onderbouwing"),
        validators=[
            DataRequired(_l("Schrijf de onderbouwing van het besluit.")),
            Length(max=TEXT_MAX, message=_l("Deze tekst is te lang.")),
        ],
    )
    conditions = TextAreaField(
        _l("Voorwaarden (bij verbeterafspraken)"),
        validators=[Optional(), Length(max=TEXT_MAX, message=_l("Deze tekst is te lang."))],
    )
    conditions_due_on = DateField(
        _l("Uiterlijk voldaan op (bij verbeterafspraken)"),
        validators=[Optional(), _sensible_year],
    )
    suspended_until = DateField(
        _l("Geschorst tot (bij schorsing)"), validators=[Optional(), _sensible_year]
    )


class ObjectionDecisionForm(BaseForm):
    upheld = RadioField(
        _l("Beslissing op het bezwaar"),
        choices=[
            SelectChoice("yes", _l("Gegrond: de maatregel wordt teruggedraaid")),
            SelectChoice("no", _l("Ongegrond: de maatregel blijft")),
        ],
        validators=[DataRequired(_l("Kies of het bezwaar gegrond is."))],
    )
    reasoning = TextAreaField(
        _l("Onderbouwing"),
        validators=[
            DataRequired(_l("Schrijf de onderbouwing van de beslissing op het bezwaar.")),
            Length(max=TEXT_MAX, message=_l("Deze tekst is te lang.")),
        ],
    )


class MessageForm(BaseForm):
    body = TextAreaField(
        _l("Bericht aan de instelling"),
        validators=[
            DataRequired(_l("Schrijf een bericht.")),
            Length(max=TEXT_MAX, message=_l("Dit bericht is te lang.")),
        ],
    )


class OpenInvestigationForm(BaseForm):
    reason = TextAreaField(
        _l("Waarom onderzoekt SBB dit bedrijf?"),
        validators=[
            DataRequired(_l("Schrijf waarom SBB dit bedrijf onderzoekt.")),
            Length(max=TEXT_MAX, message=_l("Deze tekst is te lang.")),
        ],
    )
