"""Recording a message that is too large to ingest, so it neither blocks nor vanishes.

The bytes are streamed once into the blob store (bounded memory) and an inbox row in state
``quarantined`` keeps the reason. That state is not retried by the pipeline; an admin may
release it (set it to ``received``) after raising the limit. A second arrival of the same
bytes is recorded as an arrival, like any redelivery.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from postdesk.gateway.receive import quick_headers
from postdesk.inbound.message import Envelope
from postdesk.store.db import Database
from postdesk.store.enums import InboxState
from postdesk.store.models import InboxArrival, InboxItem

QUARANTINED = InboxState.QUARANTINED  # outside the pipeline's retryable states


@dataclass(frozen=True, slots=True)
class QuarantineResult:
    inbox_id: int
    first: bool  # False when these bytes were already stored (another mailbox, a restart)


def record_quarantined(
    db: Database, *, content_hash: str, header: bytes, size: int, envelope: Envelope, reason: str
) -> QuarantineResult:
    """Commit the quarantine row for bytes already in the blob store under ``content_hash``."""
    quick = quick_headers(header, content_hash)
    for attempt in range(3):
        try:
            with db.transaction() as session:
                known = session.scalar(
                    select(InboxItem).where(InboxItem.content_hash == content_hash)
                )
                if known is not None:
                    session.add(
                        InboxArrival(
                            inbox_id=known.id,
                            source=envelope.source,
                            envelope_to=list(envelope.rcpt_to),
                        )
                    )
                    return QuarantineResult(known.id, first=False)
                item = InboxItem(
                    content_hash=content_hash,
                    message_id=quick.message_id,
                    sender=quick.sender,
                    dedupe_key=None,  # a later copy within the limit must not count as duplicate
                    source=envelope.source,
                    envelope_from=envelope.mail_from[:320],
                    envelope_to=list(envelope.rcpt_to),
                    authenticated=envelope.authenticated,
                    size=size,
                    state=QUARANTINED,
                    error=reason[:2000],
                )
                session.add(item)
                session.flush()
                return QuarantineResult(item.id, first=True)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
