"""The transactional outbox: outgoing mail is rendered and written in the deciding transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from postdesk.outbound.compose import OutgoingMail, build_message
from postdesk.outbound.suppression import suppressed
from postdesk.store.audit_log import audit
from postdesk.store.direct import insert_persistent, insert_rows
from postdesk.store.enums import OutboxState
from postdesk.store.models import OutboxItem
from postdesk.store.suppression_models import AutoReplySent


def enqueue(
    session: Session,
    mail: OutgoingMail,
    now: datetime,
    *,
    withheld: Mapping[str, str] | None = None,
    held: Mapping[str, str] | None = None,
) -> OutboxItem:
    """Add a rendered message to the outbox; it is sent once the transaction commits.

    Suppressed addresses, and those in ``withheld`` (address -> reason), are left out of the
    envelope; the headers still name them, as for a Bcc. With no recipient left the row is
    kept in state ``suppressed`` with the reasons, so the decision stays visible. ``held``:
    the suppressed recipients, when the caller has just asked (``suppression.blocked``).
    """
    if held is None:
        held = suppressed(session, mail.recipients, now)
    blocked = dict(withheld or {}) | dict(held)
    recipients = [r for r in mail.recipients if r.lower() not in blocked]
    reasons = "; ".join(f"{a}: {why}" for a, why in sorted(blocked.items()))
    item = insert_persistent(
        session,
        OutboxItem(
            ticket_id=mail.ticket_id,
            kind=mail.kind,
            automatic=mail.automatic,
            mail_from=mail.from_address,
            recipients=recipients or mail.recipients,
            message_id=mail.message_id.lower(),
            subject=mail.subject,
            raw=build_message(mail, now),
            state=OutboxState.PENDING if recipients else OutboxState.SUPPRESSED,
            last_error=reasons[:2000] or None,
            next_attempt_at=now,
            created_at=now,
        ),
    )
    if mail.automatic and recipients:
        record_automatic(session, item.id, recipients, now)
    if blocked and mail.ticket_id is not None:
        audit(
            session,
            mail.ticket_id,
            "system",
            "mail_withheld" if recipients else "mail_suppressed",
            detail=f"{mail.kind}: {reasons}"[:2000],
            at=now,
        )
    return item


def record_automatic(
    session: Session, outbox_id: int, recipients: Sequence[str], now: datetime
) -> None:
    """Note automatic mail about to go to ``recipients``: what the auto-reply caps count."""
    insert_rows(
        session,
        AutoReplySent,
        [
            {"email": r, "sent_at": now, "outbox_id": outbox_id}
            for r in dict.fromkeys(r.lower() for r in recipients)
        ],
    )


def pending_count(session: Session) -> int:
    from sqlalchemy import func

    return (
        session.scalar(
            select(func.count())
            .select_from(OutboxItem)
            .where(OutboxItem.state == OutboxState.PENDING)
        )
        or 0
    )
