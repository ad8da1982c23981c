"""Business-hours arithmetic for SLA clocks: weekends, holidays, time zones, DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from postdesk.rules.business_time import business_elapsed
from postdesk.rules.schema import BusinessHours

BERLIN = ZoneInfo("Europe/Berlin")
NINE_TO_FIVE = BusinessHours(timezone="Europe/Berlin")


def at(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=BERLIN)


def hours(td: timedelta) -> float:
    return td.total_seconds() / 3600


def test_friday_afternoon_to_monday_morning_counts_two_hours() -> None:
    # Fri 2026-11-20 15:00 -> Mon 2026-11-23 10:00: Fri 15-17 (2 h) + Mon 9-10 (1 h)
    assert hours(business_elapsed(at(2026, 11, 20, 15), at(2026, 11, 23, 10), NINE_TO_FIVE)) == 3


def test_nights_and_weekends_count_nothing() -> None:
    assert business_elapsed(at(2026, 11, 20, 17), at(2026, 11, 23, 9), NINE_TO_FIVE) == timedelta(0)
    assert business_elapsed(at(2026, 11, 24, 18), at(2026, 11, 24, 8), NINE_TO_FIVE) == timedelta(0)


def test_a_holiday_is_a_day_off() -> None:
    calendar = BusinessHours(timezone="Europe/Berlin", holidays=[date(2026, 12, 24)])
    # Wed 23rd 16:00 -> Fri 25th 10:00: Wed 1 h, Thu 24th off, Fri 1 h
    assert hours(business_elapsed(at(2026, 12, 23, 16), at(2026, 12, 25, 10), calendar)) == 2


def test_the_calendar_is_in_the_teams_time_zone() -> None:
    # 08:30 UTC is 09:30 in Berlin in winter: half an hour of work until 09:00 UTC
    start = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)
    assert hours(business_elapsed(start, start + timedelta(minutes=30), NINE_TO_FIVE)) == 0.5


def test_a_dst_change_day_keeps_its_working_hours() -> None:
    # Europe/Berlin leaves summer time on Sun 2026-10-25; a 7x24 calendar sees 25 hours that day
    always = BusinessHours(
        timezone="Europe/Berlin",
        days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        start=time(0, 0),
        end=time(23, 59, 59),
    )
    day = business_elapsed(at(2026, 10, 25, 0), at(2026, 10, 26, 0), always)
    assert 24.9 < hours(day) <= 25


def test_opening_after_closing_is_refused() -> None:
    with pytest.raises(ValidationError, match="must be before end"):
        BusinessHours(start=time(17), end=time(9))


moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)


@given(moments, moments, moments)
def test_business_time_adds_up_and_never_exceeds_wall_time(
    a: datetime, b: datetime, c: datetime
) -> None:
    a, b, c = sorted((a, b, c))
    ab, bc = business_elapsed(a, b, NINE_TO_FIVE), business_elapsed(b, c, NINE_TO_FIVE)
    assert ab + bc == business_elapsed(a, c, NINE_TO_FIVE)
    assert timedelta(0) <= ab <= b - a
