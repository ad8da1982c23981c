"""The queries behind the loop defence: suppressed addresses and recent automatic mail."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.orm import Session

from postdesk.outbound.limits import AutoReplyLimits, auto_reply_refusal
from postdesk.store.models import Message
from postdesk.store.suppression_models import AutoReplySent, Suppression

# Built once: every automatic mail asks both, and every inbound message the last one.
_SUPPRESSED = select(Suppression.email, Suppression.reason).where(
    Suppression.email.in_(bindparam("emails", expanding=True)), Suppression.until > bindparam("now")
)
_SENT_LAST_DAY = (
    select(AutoReplySent.email, func.count(), func.max(AutoReplySent.sent_at))
    .where(
        AutoReplySent.email.in_(bindparam("emails", expanding=True)),
        AutoReplySent.sent_at >= bindparam("since"),
    )
    .group_by(AutoReplySent.email)
)
_INBOUND_SINCE = (
    select(func.count())
    .select_from(Message)
    .where(
        Message.direction == "in",
        Message.from_address == bindparam("sender"),
        Message.created_at >= bindparam("since"),
    )
)


def suppressed(session: Session, emails: Iterable[str], now: datetime) -> dict[str, str]:
    """The addresses among ``emails`` that are suppressed now, with the reason."""
    wanted = {e.lower() for e in emails}
    if not wanted:
        return {}
    rows = session.connection().execute(_SUPPRESSED, {"emails": sorted(wanted), "now": now})
    return {email: f"suppressed: {reason}" for email, reason in rows}


def suppress(session: Session, email: str, reason: str, until: datetime, now: datetime) -> None:
    """Suppress ``email`` until ``until``; a later bounce extends, never shortens, the time.
    Written at once: ``suppressed`` reads with a plain statement, which does not flush."""
    email = email.lower()
    row = session.scalar(select(Suppression).where(Suppression.email == email))
    if row is None:
        session.add(Suppression(email=email, reason=reason[:2000], until=until, created_at=now))
    else:
        row.reason = reason[:2000]
        row.until = max(row.until, until)
    session.flush()


def auto_reply_capped(
    session: Session, emails: Iterable[str], now: datetime, limits: AutoReplyLimits
) -> dict[str, str]:
    """The recipients that may not get another automatic message now, with the reason."""
    wanted = {e.lower() for e in emails}
    if not wanted:
        return {}
    since = now - timedelta(days=1)
    rows = session.connection().execute(_SENT_LAST_DAY, {"emails": sorted(wanted), "since": since})
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
    params = {"sender": sender.lower(), "since": since}
    return session.connection().scalar(_INBOUND_SINCE, params) or 0
