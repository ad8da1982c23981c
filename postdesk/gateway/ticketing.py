"""Write one threaded inbound message into the store: ticket, message, attachments, participants.

Called inside the pipeline's transaction with the threading decision already taken; returns
the events the rules engine should see.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from postdesk.gateway.support_addresses import SupportAddress
from postdesk.inbound.message import InboundMessage
from postdesk.outbound.public_reply import ours
from postdesk.rules.engine import Event, event_for
from postdesk.store.audit_log import audit
from postdesk.store.changes import set_status
from postdesk.store.direct import insert_persistent, insert_rows
from postdesk.store.enums import Status
from postdesk.store.models import Attachment, InboxItem, Message, Ticket
from postdesk.store.tickets import add_participants, contact_for, opened_here
from postdesk.threading.decide import ThreadDecision
from postdesk.threading.subject import clean_subject
from postdesk.threading.tokens import parse_reply_address


def support_address_for(
    msg: InboundMessage, row: InboxItem, support: Sequence[str], keys: Sequence[bytes]
) -> str:
    """Which of our addresses the client wrote to: envelope first, then To/Cc."""
    candidates = list(row.envelope_to) + [a.email for a in (*msg.to, *msg.cc)]
    for address in candidates:
        address = address.lower()
        if address in support:
            return address
        token = parse_reply_address(address, keys)
        if token is not None and token.base_address in support:
            return token.base_address
    return support[0]


def apply_address_defaults(ticket: Ticket, entry: SupportAddress | None) -> None:
    """A new ticket starts with the type and team of the support address it came in on."""
    if entry is None:
        return
    if entry.default_type:
        ticket.type = entry.default_type
    if entry.default_team:
        ticket.fields = {**(ticket.fields or {}), "team": entry.default_team}


def open_or_attach(
    session: Session,
    decision: ThreadDecision,
    msg: InboundMessage,
    row: InboxItem,
    *,
    support_address: str,
    address: SupportAddress | None = None,
    now: datetime,
) -> tuple[Ticket, list[Event]]:
    """The ticket ``decision`` names, or a new one; ``address``: the entry of the support
    address, whose defaults a new ticket takes."""
    if decision.is_new:
        return _open_ticket(session, decision, msg, support_address, address, now)
    # Lock only the ticket row: PostgreSQL refuses FOR UPDATE on the outer-joined relations.
    ticket = session.get(Ticket, decision.ticket_id, with_for_update={"of": Ticket})
    assert ticket is not None, "threading named a ticket that does not exist"
    events = [Event("message.received", ticket.id)]
    actor = msg.from_addr.email if msg.from_addr else "system"
    if decision.action == "reopen":
        change = set_status(
            session,
            ticket,
            Status.OPEN,
            actor=actor,
            now=now,
            detail="client replied to a resolved ticket",
        )
        events.insert(0, Event("ticket.reopened", ticket.id))
        events.append(event_for(change))  # type: ignore[arg-type]
    elif ticket.status == Status.PENDING and decision.purpose == "reply":
        # A client's answer puts the ticket back in the agents' queue.
        change = set_status(
            session, ticket, Status.OPEN, actor=actor, now=now, detail="client replied"
        )
        events.append(event_for(change))  # type: ignore[arg-type]
    events = [e for e in events if e is not None]
    ticket.updated_at = now
    return ticket, events


def _open_ticket(
    session: Session,
    decision: ThreadDecision,
    msg: InboundMessage,
    support_address: str,
    address: SupportAddress | None,
    now: datetime,
) -> tuple[Ticket, list[Event]]:
    sender = msg.from_addr
    requester = contact_for(session, sender.email, sender.name) if sender else None
    ticket = Ticket(
        subject=(clean_subject(msg.subject) or "(no subject)")[:998],
        requester=requester,  # kept on the object as loaded; the row gets requester_id
        requester_id=requester.id if requester else None,
        org_id=requester.org_id if requester else None,
        support_address=support_address,
        origin="email",
        linked_ticket_id=decision.linked_ticket_id,
        created_at=now,
        updated_at=now,
    )
    apply_address_defaults(ticket, address)
    insert_persistent(session, ticket)
    opened_here(session, ticket.id)
    if requester is not None:
        add_participants(session, ticket.id, [requester.email], role="requester")
    detail = f"opened by email: {decision.reason}"
    audit(
        session,
        ticket.id,
        requester.email if requester else "system",
        "created",
        detail=detail,
        at=now,
    )
    return ticket, [Event("ticket.created", ticket.id)]


def store_message(
    session: Session,
    ticket: Ticket,
    msg: InboundMessage,
    row: InboxItem,
    *,
    kind: str,
    decision: ThreadDecision,
    support: Sequence[str],
    now: datetime,
    visibility: str = "public",
    join_thread: bool = True,
) -> Message:
    """Store ``msg`` on ``ticket``; with ``join_thread`` its author and reply-all recipients
    become participants (not for a bounce: a mail system is nobody to answer)."""
    sender = msg.from_addr
    author = contact_for(session, sender.email, sender.name) if sender and join_thread else None
    message = Message(
        ticket_id=ticket.id,
        direction="in",
        visibility=visibility,
        kind=kind,
        author_contact_id=author.id if author else None,
        from_address=sender.email if sender else row.envelope_from,
        from_name=sender.name if sender else "",
        to_addresses=[a.email for a in msg.to],
        cc_addresses=[a.email for a in msg.cc],
        subject=msg.subject[:998],
        message_id=msg.message_id.lower(),
        in_reply_to=msg.in_reply_to[0].lower() if msg.in_reply_to else None,
        references=[r.lower() for r in msg.references],
        text_full=msg.text,
        text_new=msg.text_new,
        html_sanitized=msg.html,
        inbox_id=row.id,
        thread_reason=decision.reason[:200],
        created_at=now,
    )
    insert_persistent(session, message)
    insert_rows(
        session,
        Attachment,
        [
            {
                "message_id": message.id,
                "filename": att.filename,
                "content_type": att.content_type,
                "size": att.size,
                "sha256": att.sha256,
                "content_id": att.content_id,
                "inline": att.inline,
            }
            for att in msg.attachments
        ],
    )
    if not join_thread:
        return message
    # Reply-all participants join the public thread; our own addresses never do.
    others = [a.email for a in (*msg.to, *msg.cc)]
    add_participants(session, ticket.id, [e for e in others if not ours(e, support)])
    if author is not None:
        add_participants(session, ticket.id, [author.email])
    return message
