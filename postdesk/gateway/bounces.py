"""A bounce of our own mail: find the outbox row it reports on, record the failure on the
ticket, and suppress the addresses that failed for good.

A bounce is matched only through the Message-ID we signed and stored (the returned message's,
or In-Reply-To/References), so a forged notice cannot mark arbitrary mail failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from postdesk.inbound.classify import BounceInfo, Classification, FailedRecipient
from postdesk.inbound.message import InboundMessage
from postdesk.outbound.limits import suppression_until
from postdesk.outbound.suppression import suppress
from postdesk.store.audit_log import audit
from postdesk.store.enums import OutboxState
from postdesk.store.models import OutboxItem


@dataclass(frozen=True, slots=True)
class BounceVerdict:
    """What a bounce means for the message it reports on (pure; see ``judge``)."""

    permanent: bool  # the row failed for good (a delay notice is not)
    summary: str  # for last_error and the audit entry
    suppress: tuple[str, ...]  # addresses to withhold mail from


def candidate_ids(info: BounceInfo | None, msg: InboundMessage) -> list[str]:
    """Message-IDs the bounce may be about, the strongest evidence first."""
    ids = [info.original_message_id] if info and info.original_message_id else []
    ids += [*msg.in_reply_to, *reversed(msg.references)]
    return list(dict.fromkeys(i.strip().strip("<>").lower() for i in ids if i.strip()))


def judge(failed: Sequence[FailedRecipient], sent_to: Sequence[str]) -> BounceVerdict:
    """Decide from the reported recipients and the row's own recipients.

    A notice without per-recipient status counts as a permanent failure of the row but
    suppresses nobody. A permanent failure of an address we did not send to (a forwarding
    alias bounced further on) is charged to our only recipient when there is exactly one.
    """
    ours = [a.lower() for a in sent_to]
    if not failed:
        return BounceVerdict(True, "bounced (no per-recipient status)", ())
    summary = "; ".join(f"{r.address} {r.status or '?'}" for r in failed)
    hard = [r.address.lower() for r in failed if r.permanent]
    if not hard:
        return BounceVerdict(False, f"delivery delayed: {summary}", ())
    suppressed = [a for a in hard if a in ours]
    if not suppressed and len(ours) == 1:
        suppressed = ours
    return BounceVerdict(True, f"bounced: {summary}", tuple(dict.fromkeys(suppressed)))


def find_outbox_row(session: Session, ids: Sequence[str]) -> OutboxItem | None:
    for mid in ids:
        row = session.scalar(
            select(OutboxItem).where(OutboxItem.message_id == mid).order_by(OutboxItem.id).limit(1)
        )
        if row is not None:
            return row
    return None


def record_bounce(
    session: Session,
    item: OutboxItem,
    verdict: Classification,
    now: datetime,
    *,
    suppress_days: int,
) -> BounceVerdict:
    """Mark ``item`` failed (or note the delay), audit it and suppress hard-failed addresses."""
    info = verdict.bounce
    decided = judge(info.recipients if info else (), item.recipients)
    detail = f"{item.kind} {item.message_id}: {decided.summary}"[:2000]
    if decided.permanent:
        item.state = OutboxState.FAILED
        item.last_error = decided.summary[:2000]
        item.claimed_until = None
    until = suppression_until(now, suppress_days)
    for address in decided.suppress:
        suppress(session, address, f"{decided.summary} (on {item.message_id})", until, now)
    if item.ticket_id is not None:
        action = "mail_bounced" if decided.permanent else "mail_delayed"
        audit(session, item.ticket_id, "system", action, detail=detail, at=now)
        if decided.suppress:
            audit(
                session,
                item.ticket_id,
                "system",
                "suppressed",
                detail=f"{', '.join(decided.suppress)} until {until.isoformat()}",
                at=now,
            )
    return decided
