"""The choice of a statistics table, from the query string (page, exports and API alike).

Only closed periods are served: quarters, school years and calendar years that had
ended when the figures were last computed, or a trend over such periods. A single month
or a range of months is not (docs/statistics.md says why).
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import IntegerField, SelectChoice, SelectField
from wtforms.validators import NumberRange, Optional

from .. import statistics
from ..deadlines import today
from ..forms import BaseForm

TREND = "trend"
PERIOD_KINDS = {**statistics.PERIOD_KINDS, TREND: _l("Verloop over de periodes")}


def _choices(labels: dict) -> list[SelectChoice]:
    return [SelectChoice(code, label) for code, label in labels.items()]


class StatisticsForm(BaseForm):
    class Meta:
        csrf = False

    period = SelectField(_l("Periode"), choices=_choices(PERIOD_KINDS), default="quarter")
    year = IntegerField(
        _l("Jaar"),
        validators=[Optional(), NumberRange(2000, 2100, _l("Kies een jaar tussen 2000 en 2100."))],
    )
    quarter = SelectField(
        _l("Kwartaal"), choices=[SelectChoice(str(q), f"Q{q}") for q in range(1, 5)], default="1"
    )
    granularity = SelectField(
        _l("Verloop per"), choices=_choices(statistics.PERIOD_KINDS), default="quarter"
    )
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

    def __init__(
        self,
        *args,
        publication: statistics.Publication | None = None,
        allow_level: bool = True,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.publication = publication
        self.allow_level = allow_level
        if self.year.data is None and not self.year.raw_data:
            latest = publication.periods("quarter")[-1:] if publication else []
            if latest:
                self.year.data = latest[0].start.year
                if not self.quarter.raw_data:
                    self.quarter.data = str((latest[0].start.month - 1) // 3 + 1)
            else:
                self.year.data = today().year

    @property
    def is_trend(self) -> bool:
        return self.period.data == TREND

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if not self.is_trend and self.year.data is None and not self.year.errors:
            self.year.errors.append(_l("Vul een jaar in."))
            ok = False
        if ok and not self.is_trend and not self._served():
            self.year.errors.append(
                _l(
                    "Voor deze periode zijn er geen cijfers: kies een periode die al voorbij "
                    "was toen de cijfers werden berekend."
                )
            )
            ok = False
        if not self.allow_level:
            return self._validate_one_way(ok)
        if self.dimension2.data and self.dimension2.data == self.dimension.data:
            self.dimension2.errors.append(_l("Kies twee verschillende kenmerken."))
            ok = False
        if self.dimension2.data and (self.level.data != "sector" or self.is_trend):
            self.dimension2.errors.append(
                _l(
                    "Per regio, per instelling en in een verloop kan één kenmerk; kies hier 'Niets'."
                )
            )
            ok = False
        if self.level.data == "institution" and self.period.data != "school_year":
            self.level.errors.append(_l("Per instelling kan alleen per schooljaar."))
            ok = False
        if self.is_trend and self.level.data != "sector":
            self.level.errors.append(_l("Een verloop is er alleen voor de hele sector."))
            ok = False
        return ok

    def _validate_one_way(self, ok: bool) -> bool:
        """An institution's page: one dimension of one period, for the whole sector; the
        message goes beside the field the page shows."""
        if self.level.data != "sector" or self.is_trend or self.dimension2.data:
            self.dimension.errors.append(
                _l(
                    "Dit niveau is hier niet beschikbaar: hier staan uw eigen cijfers naast die "
                    "van de rest van de sector, per periode en naar één kenmerk."
                )
            )
            ok = False
        return ok

    def period_value(self) -> statistics.Period | None:
        if self.is_trend:
            return None
        return statistics.period_of(self.period.data, self.year.data, int(self.quarter.data))

    def _served(self) -> bool:
        return self.publication is not None and self.publication.serves(self.period_value())

    def to_query(self, excluding: int | None = None) -> statistics.Query:
        dimensions = tuple(d for d in (self.dimension.data, self.dimension2.data) if d)
        return statistics.Query(
            self.period_value(),
            self.level.data,
            dimensions,
            excluding=excluding,
            trend=self.granularity.data if self.is_trend else None,
        )

    def parameters(self) -> dict[str, str]:
        """The query string of exactly this choice, for export links."""
        names = ["period", "level", "dimension", "dimension2"]
        if self.is_trend:
            names.append("granularity")
        else:
            names.append("year")
            if self.period.data == "quarter":
                names.append("quarter")
        values = {}
        for name in names:
            data = self[name].data
            if data not in (None, ""):
                values[name] = str(data)
        return values
