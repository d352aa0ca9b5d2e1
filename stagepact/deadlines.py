"""Deadlines the meldpunt is held to, as calendar dates in the Netherlands.

Acknowledgement: a number of working days after submission; weekends and the
holidays of the Algemene termijnenwet (art. 3) do not count. Feedback: a number
of months after the acknowledgement, the Dutch whistleblower law's measure.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def easter_sunday(year: int) -> date:
    """Gregorian Easter (the anonymous algorithm of Meeus, Jones and Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return date(year, month, day + 1)


@lru_cache(maxsize=64)
def dutch_holidays(year: int) -> frozenset[date]:
    """The general holidays of the Algemene termijnenwet, art. 3.

    New Year's Day, Easter Monday, King's Day (27 April, or the 26th when the
    27th is a Sunday), 5 May, Ascension Day, Whit Monday and both Christmas days.
    Good Friday is not one of them.
    """
    easter = easter_sunday(year)
    kings_day = date(year, 4, 27)
    if kings_day.weekday() == 6:
        kings_day = date(year, 4, 26)
    return frozenset(
        {
            date(year, 1, 1),
            easter + timedelta(days=1),
            kings_day,
            date(year, 5, 5),
            easter + timedelta(days=39),
            easter + timedelta(days=50),
            date(year, 12, 25),
            date(year, 12, 26),
        }
    )


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in dutch_holidays(day.year)


def local_date(moment: datetime) -> date:
    """The Dutch calendar date of a naive UTC moment."""
    return moment.replace(tzinfo=UTC).astimezone(AMSTERDAM).date()


def today() -> date:
    return datetime.now(AMSTERDAM).date()


def add_working_days(start: date, days: int) -> date:
    day = start
    remaining = days
    while remaining > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return day


def subtract_working_days(start: date, days: int) -> date:
    day = start
    remaining = days
    while remaining > 0:
        day -= timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return day


def working_days_after(start: date, end: date) -> int:
    """How many working days lie after `start`, up to and including `end` (0 when `end`
    is not later): how many working days a deadline of `start` is overdue on `end`."""
    count = 0
    day = start
    while day < end:
        day += timedelta(days=1)
        count += is_working_day(day)
    return count


def add_months(start: date, months: int) -> date:
    month_index = start.month - 1 + months
    year = start.year + month_index // 12
    month = month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)


def acknowledgement_due(submitted_at: datetime, working_days: int) -> date:
    return add_working_days(local_date(submitted_at), working_days)


def feedback_due(acknowledged_at: datetime, months: int) -> date:
    return add_months(local_date(acknowledged_at), months)


def start_of_local_day(day: date) -> datetime:
    """Naive UTC moment at which a Dutch calendar day begins, for filtering stored times."""
    local = datetime(day.year, day.month, day.day, tzinfo=AMSTERDAM)
    return local.astimezone(UTC).replace(tzinfo=None)
