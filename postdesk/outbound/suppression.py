"""The queries behind the loop defence: suppressed addresses and recent automatic mail."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from postdesk.outbound.limits import AutoReplyLimits, auto_reply_refusal
from postdesk.store.models import Message
from postdesk.store.suppression_models import AutoReplySent, Suppression


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
    wanted = {e.lower() for e in emails}
    if not wanted:
        return {}
    rows = session.execute(
        select(AutoReplySent.email, func.count(), func.max(AutoReplySent.sent_at))
        .where(AutoReplySent.email.in_(wanted), AutoReplySent.sent_at >= now - timedelta(days=1))
        .group_by(AutoReplySent.email)
    )
    refused: dict[str, str] = {}
    for email, count, last in rows:
        reason = auto_reply_refusal(last, count, now, limits)
        if reason is not None:
            refused[email] = reason
    return refused


def prune_auto_replies(session: Session, now: datetime) -> int:
    """Forget automatic mail older than two days (the caps look back one); rows deleted."""
    result = session.execute(
        delete(AutoReplySent).where(AutoReplySent.sent_at < now - timedelta(days=2))
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


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
