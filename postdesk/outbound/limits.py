"""Loop defence as pure decisions: counts and times in, a refusal reason (or None) out.

Two auto-responders answering each other never stop on their own; headers such as
Auto-Submitted stop the polite ones, these limits stop the rest. The queries that feed them
live in ``postdesk.outbound.suppression``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class AutoReplyLimits:
    """How much automatic mail one address may get from us."""

    min_interval: timedelta = timedelta(minutes=10)
    max_per_day: int = 10


def inbound_rate_refusal(received_last_hour: int, per_hour: int) -> str | None:
    """Why a sender's message must not trigger automatic mail, or None when it may.

    ``received_last_hour`` counts the sender's earlier messages in the hour, not this one.
    """
    if per_hour > 0 and received_last_hour >= per_hour:
        return f"sender over the inbound rate: {received_last_hour + 1} messages in an hour"
    return None


def auto_reply_refusal(
    last_sent_at: datetime | None, sent_last_day: int, now: datetime, limits: AutoReplyLimits
) -> str | None:
    """Why one recipient must not get another automatic message now, or None when it may."""
    if limits.max_per_day > 0 and sent_last_day >= limits.max_per_day:
        return f"{sent_last_day} automatic messages in the last day (cap {limits.max_per_day})"
    if last_sent_at is not None and now - last_sent_at < limits.min_interval:
        minutes = int((now - last_sent_at).total_seconds() // 60)
        wanted = int(limits.min_interval.total_seconds() // 60)
        return f"automatic message sent {minutes} min ago (at most one per {wanted} min)"
    return None


def suppression_until(now: datetime, days: int) -> datetime:
    return now + timedelta(days=max(days, 0))
