"""Working time between two moments, on the team's business-hours calendar (pure).

SLA targets such as "first response within 8 business hours" count only the hours the
team works: a ticket opened on Friday at 16:00 with a 2-hour target is due Monday at 10:00."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from postdesk.rules.schema import DAYS, BusinessHours


def business_elapsed(start: datetime, end: datetime, hours: BusinessHours) -> timedelta:
    """The part of [start, end) that falls inside business hours (both aware datetimes)."""
    if end <= start:
        return timedelta(0)
    tz = ZoneInfo(hours.timezone)
    holidays = set(hours.holidays)
    total = timedelta(0)
    day = start.astimezone(tz).date()
    last = end.astimezone(tz).date()
    while day <= last:
        if _works(day, hours, holidays):
            # Local wall times made aware in the zone, so a DST change day is as long as it is.
            opens = datetime.combine(day, hours.start, tzinfo=tz).astimezone(UTC)
            closes = datetime.combine(day, hours.end, tzinfo=tz).astimezone(UTC)
            lo, hi = max(opens, start), min(closes, end)
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total


def _works(day: date, hours: BusinessHours, holidays: set[date]) -> bool:
    return DAYS[day.weekday()] in hours.days and day not in holidays
