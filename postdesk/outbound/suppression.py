"""The queries behind the loop defence: suppressed addresses and recent automatic mail."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from postdesk.outbound.limits import AutoReplyLimits, auto_reply_refusal
from postdesk.store.enums import OutboxState
from postdesk.store.models import Message, OutboxItem
from postdesk.store.suppression_models import Suppression


def suppressed(session: Session, emails: Iterable[str], now: datetime) -> dict[str, str]:
    """The addresses among ``emails`` that are suppressed now, with the reason."""
    wanted = {e.lower() for e in emails}
    if not wanted:
        return {}
    rows = session.execute(
        select(Suppression.email, Suppression.reason).where(
            Suppression.email.in_(wanted), Suppression.until > now
        )
    )
    return {email: f"suppressed: {reason}" for email, reason in rows}


def suppress(session: Session, email: str, reason: str, until: datetime, now: datetime) -> None:
    """Suppress ``email`` until ``until``; a later bounce extends, never shortens, the time."""
    email = email.lower()
    row = session.scalar(select(Suppression).where(Suppression.email == email))
    if row is None:
        session.add(Suppression(email=email, reason=reason[:2000], until=until, created_at=now))
        session.flush()
        return
    row.reason = reason[:2000]
    row.until = max(row.until, until)


def auto_reply_capped(
    session: Session, emails: Iterable[str], now: datetime, limits: AutoReplyLimits
) -> dict[str, str]:
    """The recipients that may not get another automatic message now, with the reason."""
    refused: dict[str, str] = {}
    since = now - timedelta(days=1)
    for email in {e.lower() for e in emails}:
        times = _automatic_sent_to(session, email, since)
        reason = auto_reply_refusal(max(times, default=None), len(times), now, limits)
        if reason is not None:
            refused[email] = reason
    return refused


def _automatic_sent_to(session: Session, email: str, since: datetime) -> list[datetime]:
    # Recipients are a JSON list; a LIKE over its text narrows the rows portably (SQLite and
    # PostgreSQL print it alike), the exact membership test is done here.
    rows = session.execute(
        select(OutboxItem.created_at, OutboxItem.recipients).where(
            OutboxItem.automatic.is_(True),
            OutboxItem.state != OutboxState.SUPPRESSED,
            OutboxItem.created_at >= since,
            cast(OutboxItem.recipients, String).like(f'%"{_like_escape(email)}"%', escape="\\"),
        )
    )
    return [at for at, rcpts in rows if email in (r.lower() for r in rcpts)]


def inbound_count_since(session: Session, sender: str, since: datetime) -> int:
    """Messages stored from ``sender`` since ``since`` (on any ticket)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                Message.direction == "in",
                Message.from_address == sender.lower(),
                Message.created_at >= since,
            )
        )
        or 0
    )


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
