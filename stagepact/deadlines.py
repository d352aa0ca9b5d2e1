"""Deadlines the meldpunt is held to, as calendar dates in the Netherlands.

Acknowledgement: a number of working days after submission (weekends and
Dutch public holidays do not count). Feedback: a number of months after the
acknowledgement, the Dutch whistleblower law's measure.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


@lru_cache(maxsize=32)
def _dutch_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("NL", years=year)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _dutch_holidays(day.year)


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
