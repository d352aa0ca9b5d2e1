"""Forms of the handler's desk."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from .. import companies, vocab
from ..forms import BaseForm, EvidenceMixin, row_id, sensible_year
from ..student.forms import NARRATIVE_MAX, ReportForm


class InboxFilterForm(BaseForm):
    """Filters in the query string; reading is safe, so no CSRF token."""

    class Meta:
        csrf = False

    status = SelectField(
        _l("Status"),
        choices=[
            SelectChoice("open", _l("Alle open meldingen")),
            SelectChoice("all", _l("Alle meldingen")),
        ]
        + vocab.choices(vocab.STATUS_LABELS),
        default="open",
        validators=[Optional()],
    )
    mine = BooleanField(_l("Alleen aan mij toegewezen"))
    overdue = BooleanField(_l("Alleen over de termijn"))
    submitted_from = DateField(_l("Gemeld vanaf"), validators=[Optional(), sensible_year])
    submitted_to = DateField(_l("Gemeld tot en met"), validators=[Optional(), sensible_year])
    number = StringField(_l("Zaaknummer"), validators=[Optional(), Length(max=20)])


class CloseForm(BaseForm):
    outcome = SelectField(_l("Uitkomst"), validators=[DataRequired(_l("Kies een uitkomst."))])
    message = TextAreaField(
        _l("Afsluitend bericht aan de student"),
        validators=[
            DataRequired(_l("Schrijf een afsluitend bericht voor de student.")),
            Length(max=NARRATIVE_MAX, message=_l("Dit bericht is te lang.")),
        ],
    )
    duplicate_of = StringField(
        _l("Zaaknummer van de andere melding (alleen bij een dubbele melding)"),
        validators=[Optional(), Length(max=20)],
    )

    def __init__(self, outcomes=(), *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.outcome.choices = [SelectChoice("", _l("Kies een uitkomst"))] + [
            SelectChoice(str(o), vocab.OUTCOME_LABELS[o]) for o in outcomes
        ]


class ReopenForm(BaseForm):
    reason = TextAreaField(
        _l("Waarom heropen je de melding?"),
        validators=[
            DataRequired(_l("Geef een reden om de melding te heropenen.")),
            Length(max=2000, message=_l("Gebruik hier hoogstens 2000 tekens.")),
        ],
    )


class AssignForm(BaseForm):
    assignee = SelectField(_l("Behandelaar"), validators=[Optional()])

    def __init__(self, handlers=(), *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.assignee.choices = [SelectChoice("", _l("Niemand"))] + [
            SelectChoice(str(h.id), h.name) for h in handlers
        ]


class MessageForm(EvidenceMixin, BaseForm):
    body = TextAreaField(
        _l("Bericht aan de student"),
        validators=[
            DataRequired(_l("Schrijf een bericht.")),
            Length(max=NARRATIVE_MAX, message=_l("Dit bericht is te lang.")),
        ],
    )
    is_feedback = BooleanField(_l("Dit bericht is de terugkoppeling over wat school heeft gedaan"))


class NoteForm(BaseForm):
    """Prefixed, so that its field's id differs from the message form's on the same page."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "note")
        super().__init__(*args, **kwargs)

    body = TextAreaField(
        _l("Interne notitie (de student ziet dit niet)"),
        validators=[
            DataRequired(_l("Schrijf een notitie.")),
            Length(max=NARRATIVE_MAX, message=_l("Deze notitie is te lang.")),
        ],
    )


class IntakeForm(ReportForm):
    """A report a handler enters for a student who called, came by or wrote."""

    channel = SelectField(
        _l("Hoe kwam de melding binnen?"),
        choices=[
            SelectChoice(str(c), vocab.CHANNEL_LABELS[c])
            for c in (vocab.Channel.PHONE, vocab.Channel.VISIT, vocab.Channel.MAIL)
        ],
        validators=[DataRequired(_l("Kies hoe de melding binnenkwam."))],
    )


class LinkCompanyForm(BaseForm):
    """Link a company found in the register, or add one the register lacks (unverified)."""

    company_id = StringField(validators=[Optional(), Length(max=12)])
    new_name = StringField(
        _l("Naam van het bedrijf"),
        validators=[Optional(), Length(max=200, message=_l("Gebruik hier hoogstens 200 tekens."))],
    )
    new_city = StringField(
        _l("Plaats"),
        validators=[Optional(), Length(max=100, message=_l("Gebruik hier hoogstens 100 tekens."))],
    )
    new_kvk = StringField(_l("KvK-nummer (als je het weet)"), validators=[Optional()])

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        self.company = None
        if self.company_id.data:
            self.company = companies.get(row_id(self.company_id.data))
            if self.company is None:
                self.company_id.errors.append(
                    _l("Zoek het bedrijf opnieuw en kies het uit de lijst.")
                )
                return False
            return ok
        if not (self.new_name.data or "").strip():
            self.new_name.errors.append(_l("Kies een bedrijf uit de lijst, of vul de naam in."))
            ok = False
        if self.new_kvk.data and companies.valid_kvk(self.new_kvk.data) is None:
            self.new_kvk.errors.append(_l("Een KvK-nummer heeft 8 cijfers."))
            ok = False
        return ok


class FileChoiceField(SelectMultipleField):
    """Checkboxes for the files of a case; nothing is chosen unless ticked."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def offer(self, files) -> None:
        self.choices = [
            SelectChoice(str(f.id), f"{f.original_name} ({f.size // 1024 + 1} kB)") for f in files
        ]

    def pre_validate(self, form):
        # An unknown id is the workflow's to refuse, beside this field.
        pass


class _Prefixed(BaseForm):
    """Forms that share the case page get their own prefix, so that field ids never clash."""

    PREFIX = ""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", self.PREFIX)
        super().__init__(*args, **kwargs)


SUMMARY_MAX = 5000


class ConsentForm(_Prefixed):
    """A consent the student gave or withdrew after the report."""

    PREFIX = "consent"

    kind = SelectField(
        _l("Toestemming"),
        choices=vocab.choices(vocab.CONSENT_LABELS),
        validators=[DataRequired(_l("Kies om welke toestemming het gaat."))],
    )
    given = SelectField(
        _l("De student"),
        choices=[
            SelectChoice("yes", _l("geeft toestemming")),
            SelectChoice("no", _l("trekt toestemming in")),
        ],
        validators=[DataRequired(_l("Kies of de student toestemming geeft of intrekt."))],
    )
    source = SelectField(
        _l("Hoe liet de student het weten?"),
        choices=[
            SelectChoice(str(s), vocab.CONSENT_SOURCE_LABELS[s])
            for s in (vocab.ConsentSource.MESSAGE, vocab.ConsentSource.HANDLER)
        ],
        validators=[DataRequired(_l("Kies hoe de student het liet weten."))],
    )
    message_id = SelectField(_l("Het bericht van de student"), validators=[Optional()])

    def __init__(self, student_messages=(), *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.message_id.choices = [SelectChoice("", _l("Geen bericht"))] + [
            SelectChoice(str(m.id), f"{m.created_at:%d-%m-%Y %H:%M}: {m.body[:60]}")
            for m in student_messages
        ]


class ReferForm(_Prefixed):
    PREFIX = "refer"

    adv_id = SelectField(
        _l("Antidiscriminatiebureau"),
        validators=[DataRequired(_l("Kies het antidiscriminatiebureau."))],
    )
    summary = TextAreaField(
        _l("Samenvatting voor het ADV"),
        validators=[
            DataRequired(_l("Schrijf een samenvatting voor het ADV.")),
            Length(max=SUMMARY_MAX, message=_l("Deze samenvatting is te lang.")),
        ],
    )
    share_contact = BooleanField(_l("Contactgegevens van de student meesturen"))
    attachment_ids = FileChoiceField(_l("Bestanden meesturen"))

    def __init__(self, advs=(), files=(), *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.adv_id.choices = [SelectChoice("", _l("Kies een bureau"))] + [
            SelectChoice(str(a.id), f"{a.name} ({a.region})") for a in advs
        ]
        self.attachment_ids.offer(files)


class AdvAnswerForm(_Prefixed):
    PREFIX = "adv"

    answer = SelectField(
        _l("Antwoord van het ADV"),
        choices=vocab.choices(vocab.ADV_ANSWER_LABELS),
        validators=[DataRequired(_l("Kies het antwoord van het ADV."))],
    )
    note = TextAreaField(
        _l("Wat liet het ADV weten? (de uitkomst)"),
        validators=[
            Optional(),
            Length(max=SUMMARY_MAX, message=_l("Deze tekst is te lang.")),
        ],
    )


class EscalateForm(_Prefixed):
    PREFIX = "sbb"

    summary = TextAreaField(
        _l("Samenvatting voor SBB, zonder namen van de student"),
        validators=[
            DataRequired(_l("Schrijf een samenvatting voor SBB, zonder namen.")),
            Length(max=SUMMARY_MAX, message=_l("Deze samenvatting is te lang.")),
        ],
    )
    share_identity = BooleanField(_l("Naam en contactgegevens van de student meesturen"))
    attachment_ids = FileChoiceField(_l("Bestanden delen met SBB"))

    def __init__(self, files=(), *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.attachment_ids.offer(files)


class SbbMessageForm(_Prefixed):
    PREFIX = "sbbmsg"

    body = TextAreaField(
        _l("Bericht aan SBB"),
        validators=[
            DataRequired(_l("Schrijf een bericht.")),
            Length(max=SUMMARY_MAX, message=_l("Dit bericht is te lang.")),
        ],
    )


class EraseForm(_Prefixed):
    """Erasing a closed case's personal data cannot be undone: the handler confirms it."""

    PREFIX = "erase"

    confirm = BooleanField(
        _l("Ik begrijp dat het wissen niet ongedaan kan worden gemaakt."),
        validators=[DataRequired(_l("Zet een vinkje als je de gegevens echt wilt wissen."))],
    )
