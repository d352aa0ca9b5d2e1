"""The choice of a statistics table, from the query string (page, exports and API alike)."""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from wtforms import DateField, IntegerField, SelectChoice, SelectField
from wtforms.validators import NumberRange, Optional

from .. import statistics
from ..deadlines import today
from ..forms import BaseForm

PERIOD_KINDS = {
    "month": _l("Maand"),
    "quarter": _l("Kwartaal"),
    "school_year": _l("Schooljaar (1 augustus tot 1 augustus)"),
    "year": _l("Kalenderjaar"),
    "range": _l("Van maand tot maand"),
}
MONTHS = [
    _l("januari"), _l("februari"), _l("maart"), _l("april"), _l("mei"), _l("juni"),
    _l("juli"), _l("augustus"), _l("september"), _l("oktober"), _l("november"), _l("december"),
]  # fmt: skip
MAX_RANGE_DAYS = 10 * 366


def _choices(labels: dict) -> list[SelectChoice]:
    return [SelectChoice(code, label) for code, label in labels.items()]


class StatisticsForm(BaseForm):
    class Meta:
        csrf = False

    period = SelectField(_l("Periode"), choices=_choices(PERIOD_KINDS), default="year")
    year = IntegerField(
        _l("Jaar"),
        validators=[Optional(), NumberRange(2000, 2100, _l("Kies een jaar tussen 2000 en 2100."))],
    )
    month = SelectField(
        _l("Maand"),
        choices=[SelectChoice(str(i), label) for i, label in enumerate(MONTHS, start=1)],
        default="1",
    )
    quarter = SelectField(
        _l("Kwartaal"), choices=[SelectChoice(str(q), f"Q{q}") for q in range(1, 5)], default="1"
    )
    date_from = DateField(_l("Van"), validators=[Optional()])
    date_to = DateField(_l("Tot en met"), validators=[Optional()])
    level = SelectField(_l("Niveau"), choices=_choices(statistics.LEVELS), default="sector")
    dimension = SelectField(
        _l("Verdeeld naar"),
        choices=[SelectChoice(d.name, d.label) for d in statistics.DIMENSIONS.values()],
        default="phase",
    )
    dimension2 = SelectField(
        _l("En naar (mag leeg blijven)"),
        choices=[SelectChoice("", _l("Niets"))]
        + [SelectChoice(d.name, d.label) for d in statistics.DIMENSIONS.values()],
        default="",
    )

    def __init__(self, *args, allow_level: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.allow_level = allow_level
        if self.year.data is None and not self.year.raw_data:
            self.year.data = today().year

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if self.period.data == "range":
            if self.date_from.data is None and not self.date_from.errors:
                self.date_from.errors.append(_l("Vul de eerste dag in."))
                ok = False
            if self.date_to.data is None and not self.date_to.errors:
                self.date_to.errors.append(_l("Vul de laatste dag in."))
                ok = False
            if self.date_from.data and self.date_to.data:
                if self.date_to.data < self.date_from.data:
                    self.date_to.errors.append(_l("De laatste dag ligt vóór de eerste."))
                    ok = False
                elif (self.date_to.data - self.date_from.data).days > MAX_RANGE_DAYS:
                    self.date_to.errors.append(_l("Kies een periode van hoogstens tien jaar."))
                    ok = False
                for field in (self.date_from, self.date_to):
                    if field.data and not 2000 <= field.data.year <= 2100:
                        field.errors.append(_l("Kies een datum tussen 2000 en 2100."))
                        ok = False
        elif self.year.data is None and not self.year.errors:
            self.year.errors.append(_l("Vul een jaar in."))
            ok = False
        if self.dimension2.data and self.dimension2.data == self.dimension.data:
            self.dimension2.errors.append(_l("Kies twee verschillende kenmerken."))
            ok = False
        if self.dimension2.data and self.level.data != "sector":
            self.dimension2.errors.append(
                _l("Per regio of per instelling kan één kenmerk; kies hier 'Niets'.")
            )
            ok = False
        if not self.allow_level and self.level.data != "sector":
            self.level.errors.append(_l("Dit niveau is hier niet beschikbaar."))
            ok = False
        return ok

    def period_value(self) -> statistics.Period:
        kind, year = self.period.data, self.year.data
        if kind == "month":
            return statistics.month(year, int(self.month.data))
        if kind == "quarter":
            return statistics.quarter(year, int(self.quarter.data))
        if kind == "school_year":
            return statistics.school_year(year)
        if kind == "range":
            return statistics.date_range(self.date_from.data, self.date_to.data)
        return statistics.calendar_year(year)

    def to_query(self, institution_id: int | None = None) -> statistics.Query:
        dimensions = tuple(d for d in (self.dimension.data, self.dimension2.data) if d)
        return statistics.Query(self.period_value(), self.level.data, dimensions, institution_id)

    def parameters(self) -> dict[str, str]:
        """The query string of exactly this choice, for export links."""
        names = ["period", "level", "dimension", "dimension2"]
        if self.period.data == "range":
            names += ["date_from", "date_to"]
        else:
            names += ["year"] + {"month": ["month"], "quarter": ["quarter"]}.get(
                self.period.data, []
            )
        values = {}
        for name in names:
            data = self[name].data
            if data not in (None, ""):
                values[name] = data.isoformat() if isinstance(data, date) else str(data)
        return values
