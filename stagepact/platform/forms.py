"""Forms of the platform admin's pages."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l
from wtforms import EmailField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional, Regexp, ValidationError

from ..admin import ADV_FIELDS
from ..forms import BaseForm
from ..models import Adv

# Digits, spaces, + - ( ), and at least one digit: it also ends up in a tel: link.
PHONE_PATTERN = re.compile(r"^(?=.*[0-9])[0-9 +()-]+\Z")
MUNICIPALITIES_MAX = 10_000  # the Netherlands has about 340 municipalities


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _at_most(length: int) -> Length:
    # Length fills in %(max)d itself.
    return Length(max=length, message=_l("Gebruik hier hoogstens %(max)d tekens."))


def _web_address(form, field):
    """Only http(s): the student pages put the address in a link."""
    try:
        host = urlsplit(field.data).hostname
    except ValueError:  # a malformed address, such as an unclosed [IPv6 bracket
        host = None
    if (
        not field.data.lower().startswith(("https://", "http://"))
        or not host
        or any(c.isspace() for c in field.data)
    ):
        raise ValidationError(
            _l("Vul een webadres in dat begint met https:// of http://, zoals https://www.adv.nl.")
        )


class AdvForm(BaseForm):
    name = StringField(
        _l("Naam"),
        filters=[_strip],
        validators=[DataRequired(_l("Vul de naam van de ADV in.")), _at_most(200)],
    )
    region = StringField(
        _l("Regio"),
        filters=[_strip],
        validators=[DataRequired(_l("Vul de regio in waar de ADV werkt.")), _at_most(200)],
    )
    municipalities = TextAreaField(
        _l("Gemeenten"), validators=[Optional(), _at_most(MUNICIPALITIES_MAX)]
    )
    email = EmailField(
        _l("E-mailadres"),
        filters=[_strip],
        validators=[
            Optional(),
            Length(max=254, message=_l("Dit e-mailadres is te lang.")),
            Email(
                _l("Dit is geen geldig e-mailadres. Voorbeeld: info@adv.nl"),
                check_deliverability=False,
            ),
        ],
    )
    phone = StringField(
        _l("Telefoonnummer"),
        filters=[_strip],
        validators=[
            Optional(),
            _at_most(40),
            Regexp(
                PHONE_PATTERN,
                message=_l(
                    "Gebruik in een telefoonnummer alleen cijfers, spaties, +, - en haakjes."
                ),
            ),
        ],
    )
    website = StringField(
        _l("Website"), filters=[_strip], validators=[Optional(), _at_most(300), _web_address]
    )

    def values(self) -> dict:
        """The typed values, for `admin.save_adv`."""
        return {name: self[name].data for name in ADV_FIELDS}


class DefaultAdvForm(BaseForm):
    """The ADV an institution's students are pointed to, chosen from the register."""

    adv = SelectField(_l("Standaard-ADV"), validate_choice=False)

    def __init__(self, advs: list[Adv], *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._advs = {str(adv.id): adv for adv in advs}
        self.adv.choices = [SelectChoice("", _l("Geen"))] + [
            SelectChoice(str(adv.id), f"{adv.name} ({adv.region})") for adv in advs
        ]
        self.chosen = None

    def validate_adv(self, field):
        if not field.data:
            self.chosen = None
            return
        self.chosen = self._advs.get(field.data)
        if self.chosen is None:
            raise ValidationError(_l("Kies een ADV uit de lijst, of kies Geen."))
