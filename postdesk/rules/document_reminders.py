"""Remind clients of documents still missing: a time-based step of ``run_time_rules``.

Every ``document_reminder_days`` after the request (then after the last reminder), at most
``document_reminder_max`` times, while the request is open and the ticket active. Each request
is handled in its own transaction with its ticket row locked (the same lock a client's reply
takes), and sending moves ``last_reminded_at`` to ``now``: a second run at the same moment, or
another process running the job too, finds nothing due.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import or_, select

from postdesk.outbound.public_reply import client_parent, client_recipients
from postdesk.outbound.render import Renderer
from postdesk.outbound.ticket_mail import MailIdentity, send_ticket_mail
from postdesk.rules.documents import reminder_due
from postdesk.store.audit_log import audit
from postdesk.store.db import Database
from postdesk.store.document_models import DocumentRequest
from postdesk.store.models import Message, Ticket
from postdesk.store.runtime_models import SupportAddressRow
from postdesk.store.workflow import ACTIVE

if TYPE_CHECKING:
    from postdesk.gateway.settings import Settings


def run_document_reminders(
    db: Database, settings: Settings, now: datetime, *, ident: MailIdentity, renderer: Renderer
) -> list[int]:
    """Send the reminders due at ``now``; returns the ids of the requests reminded."""
    every, most = settings.document_reminder_days, settings.document_reminder_max
    if most <= 0:
        return []
    cutoff = now - timedelta(days=every)
    with db.sessions() as s:
        candidates = list(
            s.scalars(
                select(DocumentRequest.id)
                .where(
                    DocumentRequest.fulfilled_at.is_(None),
                    DocumentRequest.reminders_sent < most,
                    or_(
                        DocumentRequest.last_reminded_at <= cutoff,
                        DocumentRequest.last_reminded_at.is_(None)
                        & (DocumentRequest.created_at <= cutoff),
                    ),
                )
                .order_by(DocumentRequest.id)
            )
        )
    reminded: list[int] = []
    for request_id in candidates:
        with db.transaction() as s:
            ticket_id = s.scalar(
                select(DocumentRequest.ticket_id).where(DocumentRequest.id == request_id)
            )
            # Read the request under its ticket's lock: a reply (or another process's
            # reminder) may have come first.
            ticket = s.get(Ticket, ticket_id, with_for_update={"of": Ticket}) if ticket_id else None
            request = s.get(DocumentRequest, request_id)
            if ticket is None or request is None or not _due(request, ticket, now, every, most):
                continue
            if _remind(s, request, ticket, now, settings, ident, renderer):
                reminded.append(request.id)
    return reminded


def _due(request: DocumentRequest, ticket: Ticket, now: datetime, every: float, most: int) -> bool:
    return (
        request.fulfilled_at is None
        and ticket.status in ACTIVE
        and reminder_due(
            request.created_at,
            request.last_reminded_at,
            request.reminders_sent,
            now,
            every_days=every,
            max_reminders=most,
        )
    )


def _remind(
    s,  # type: ignore[no-untyped-def]
    request: DocumentRequest,
    ticket: Ticket,
    now: datetime,
    settings: Settings,
    ident: MailIdentity,
    renderer: Renderer,
) -> bool:
    missing = [d.name for d in request.documents if d.received_at is None]
    # Ours: the settings' addresses and those added in the admin (never mail ourselves).
    ours = [*settings.support_addresses, *s.scalars(select(SupportAddressRow.address))]
    to, cc = client_recipients(s, ticket, ours)
    # Counted even when there is nobody to write to, so an address-less ticket is not
    # looked at again on every tick.
    request.reminders_sent += 1
    request.last_reminded_at = now
    if not missing or not to:
        return False
    # Threaded under the client's last message, or else under our request.
    parent = client_parent(s, ticket.id) or s.scalar(
        select(Message)
        .where(Message.ticket_id == ticket.id, Message.kind == "document_request")
        .order_by(Message.id.desc())
        .limit(1)
    )
    send_ticket_mail(
        s,
        ident=ident,
        renderer=renderer,
        ticket=ticket,
        template="document_reminder",
        kind="document_reminder",
        to=to,
        cc=cc,
        context={
            "missing": missing,
            "requester_name": ticket.requester.name if ticket.requester else "",
        },
        now=now,
        parent_message_id=parent.message_id if parent else None,
        parent_references=parent.references if parent else (),
        capped=False,  # a few by construction, and not an answer to any mail
    )
    audit(
        s,
        ticket.id,
        "rule:document-reminder",
        "document_reminder",
        detail=f"request {request.id}: reminder {request.reminders_sent} of "
        f"{settings.document_reminder_max}, missing {', '.join(missing)}",
        at=now,
    )
    return True
