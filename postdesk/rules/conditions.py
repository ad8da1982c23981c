"""Pure condition matching: facts (a flat dict) + a condition -> the reason it holds, or None."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from postdesk.rules.schema import DAYS, BusinessHours, Condition


def in_business_hours(now: datetime, hours: BusinessHours) -> bool:
    local = now.astimezone(ZoneInfo(hours.timezone))
    if DAYS[local.weekday()] not in hours.days:
        return False
    return hours.start <= local.time().replace(tzinfo=None) < hours.end


def check(
    cond: Condition, facts: Mapping[str, Any], now: datetime, hours: BusinessHours
) -> str | None:
    """Why ``cond`` holds (one short phrase), or None."""
    if cond.business_hours is not None:
        inside = in_business_hours(now, hours)
        ok = inside == cond.business_hours
        phrase = "within business hours" if inside else "outside business hours"
        return _flip(ok, cond.not_, phrase)
    assert cond.field is not None
    value = facts.get(cond.field)
    ok, phrase = _test(cond, value)
    return _flip(ok, cond.not_, f"{cond.field} {phrase}")


def check_all(
    conds: Sequence[Condition], facts: Mapping[str, Any], now: datetime, hours: BusinessHours
) -> str | None:
    reasons = []
    for cond in conds:
        reason = check(cond, facts, now, hours)
        if reason is None:
            return None
        reasons.append(reason)
    return "; ".join(reasons) or "always"


def _flip(ok: bool, negate: bool, phrase: str) -> str | None:
    if negate:
        return None if ok else f"not ({phrase})"
    return phrase if ok else None


def _norm(v: Any) -> Any:
    return v.lower() if isinstance(v, str) else v


def _test(cond: Condition, value: Any) -> tuple[bool, str]:
    values = value if isinstance(value, (list, tuple, set)) else [value]
    if cond.equals is not None:
        target = _norm(cond.equals)
        return any(_norm(v) == target for v in values), f"= {cond.equals!r}"
    if cond.in_ is not None:
        targets = {_norm(t) for t in cond.in_}
        return any(_norm(v) in targets for v in values), f"in {list(cond.in_)}"
    if cond.regex is not None:
        pattern = re.compile(cond.regex)
        hit = any(isinstance(v, str) and pattern.search(v) for v in values)
        return bool(hit), f"matches /{cond.regex}/"
    if cond.contains is not None:
        needle = cond.contains.lower()
        hit = any(isinstance(v, str) and needle in v.lower() for v in values)
        return hit, f"contains {cond.contains!r}"
    assert cond.at_least is not None
    hit = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= cond.at_least
    return hit, f">= {cond.at_least:g}"
