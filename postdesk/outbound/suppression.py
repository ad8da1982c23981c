"""The queries behind the loop defence: suppressed addresses and recent automatic mail."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import (
    BindParameter,
    Integer,
    Text,
    bindparam,
    delete,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from postdesk.outbound.limits import AutoReplyLimits, auto_reply_refusal
from postdesk.store.models import Message, UTCDateTime
from postdesk.store.prepared import Prepared
from postdesk.store.suppression_models import AutoReplySent, Suppression

CHUNK = 20  # addresses per statement in ``blocked``


@cache
def _blocking(count: int) -> Prepared:
    """Both questions about ``count`` addresses in one statement: suppressed (with the
    reason), and automatic mail sent to them since ``since`` (how many, the last)."""
    emails: list[BindParameter[str]] = [bindparam(f"e{n}") for n in range(count)]
    held = select(
        Suppression.email,
        Suppression.reason,
        literal(None, Integer),
        literal(None, UTCDateTime),
    ).where(Suppression.email.in_(emails), Suppression.until > bindparam("now"))
    sent = (
        select(
            AutoReplySent.email, literal(None, Text), func.count(), func.max(AutoReplySent.sent_at)
        )
        .where(AutoReplySent.email.in_(emails), AutoReplySent.sent_at >= bindparam("since"))
        .group_by(AutoReplySent.email)
    )
    return Prepared(union_all(held, sent))


def _statements(emails: Iterable[str], now: datetime) -> list[tuple[Prepared, dict[str, object]]]:
    """``blocked``'s statements and their parameters, CHUNK addresses at a time."""
    wanted = sorted({e.lower() for e in emails})
    since = now - timedelta(days=1)
    out: list[tuple[Prepared, dict[str, object]]] = []
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        params: dict[str, object] = {f"e{n}": email for n, email in enumerate(chunk)}
        out.append((_blocking(len(chunk)), {**params, "now": now, "since": since}))
    return out


def ask_blocked(session: Session, emails: Iterable[str], now: datetime) -> None:
    """Send ``blocked``'s reads for ``emails`` at ``now`` ahead (``Prepared.ask``)."""
    for statement, params in _statements(emails, now):
        statement.ask(session, params)


def blocked(
    session: Session, emails: Iterable[str], now: datetime, limits: AutoReplyLimits | None
) -> tuple[dict[str, str], dict[str, str]]:
    """The addresses among ``emails`` that are suppressed now, and (with ``limits``, for
    automatic mail) those that may not get another automatic message now; with the reasons.
    One statement for both (a new ticket's acknowledgement asks them for every message)."""
    held: dict[str, str] = {}
    capped: dict[str, str] = {}
    for statement, params in _statements(emails, now):
        for email, reason, count, last in statement.all(session, params):
            if count is None:
                held[email] = f"suppressed: {reason}"
            elif limits is not None:
                refusal = auto_reply_refusal(last, count, now, limits)
                if refusal is not None:
                    capped[email] = refusal
    return held, capped


_INBOUND_SINCE = Prepared(
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
    return blocked(session, emails, now, None)[0]


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


def prune_auto_replies(session: Session, now: datetime) -> int:
    """Forget automatic mail older than two days (the caps look back one); rows deleted."""
    result = session.execute(
        delete(AutoReplySent).where(AutoReplySent.sent_at < now - timedelta(days=2))
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def ask_inbound_count_since(session: Session, sender: str, since: datetime) -> None:
    """Send ``inbound_count_since``'s read ahead (``Prepared.ask``)."""
    _INBOUND_SINCE.ask(session, {"sender": sender.lower(), "since": since})


def inbound_count_since(session: Session, sender: str, since: datetime) -> int:
    """Messages stored from ``sender`` since ``since`` (on any ticket)."""
    params = {"sender": sender.lower(), "since": since}
    return _INBOUND_SINCE.scalar(session, params) or 0
