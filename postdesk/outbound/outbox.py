"""The transactional outbox: outgoing mail is rendered and written in the deciding transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from postdesk.outbound.compose import OutgoingMail, build_message
from postdesk.store.enums import OutboxState
from postdesk.store.models import OutboxItem


def enqueue(session: Session, mail: OutgoingMail, now: datetime) -> OutboxItem:
    """Add a rendered message to the outbox; it is sent once the transaction commits."""
    item = OutboxItem(
        ticket_id=mail.ticket_id,
        kind=mail.kind,
        automatic=mail.automatic,
        mail_from=mail.from_address,
        recipients=mail.recipients,
        message_id=mail.message_id.lower(),
        subject=mail.subject,
        raw=build_message(mail, now),
        state=OutboxState.PENDING,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(item)
    session.flush()
    return item


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
