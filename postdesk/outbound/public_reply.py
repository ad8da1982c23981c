"""A staff member's public reply to the client — the one path for mail and the admin alike.

It goes from the support address ("<Agent> at <Support>"), to the requester and the CC
participants only — never to an agent's or one of our own addresses — threaded into the
*client's* conversation: In-Reply-To is the client's last message, References start with
the ticket's first public message. The agent's private address appears nowhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from postdesk.outbound.compose import OutgoingAttachment
from postdesk.outbound.render import Renderer
from postdesk.outbound.ticket_mail import MailIdentity, send_ticket_mail
from postdesk.store.models import Agent, Message, OutboxItem, Participant, Ticket


def send_public_reply_mail(
    session: Session,
    *,
    ident: MailIdentity,
    renderer: Renderer,
    ticket: Ticket,
    agent: Agent,
    text: str,
    support: Sequence[str],
    now: datetime,
    to: Sequence[str],
    cc: Sequence[str] = (),
    attachments: Sequence[OutgoingAttachment] = (),
    listed: Sequence[str] = (),
) -> OutboxItem:
    """Enqueue the reply (and store it as the ticket's outgoing message, authored by
    ``agent``); the first public reply sets the ticket's first-response time."""
    parent = client_parent(session, ticket.id)
    root = session.scalar(
        select(Message.message_id)
        .where(Message.ticket_id == ticket.id, Message.visibility == "public")
        .order_by(Message.created_at, Message.id)
        .limit(1)
    )
    name = f"{agent.name} at {ident.support_name}" if agent.name else ident.support_name
    item = send_ticket_mail(
        session,
        ident=ident,
        renderer=renderer,
        ticket=ticket,
        template="agent_reply",
        kind="agent_reply",
        to=to,
        cc=cc,
        context={"text": text, "agent_name": agent.name, "listed": list(listed)},
        now=now,
        parent_message_id=parent.message_id if parent else None,
        parent_references=parent.references if parent else (),
        references_root=[root] if root else (),
        automatic=False,
        from_name=name,
        attachments=attachments,
        author_agent_id=agent.id,
    )
    ticket.first_response_at = ticket.first_response_at or now
    ticket.updated_at = now
    return item


def client_recipients(
    session: Session, ticket: Ticket, support: Sequence[str]
) -> tuple[list[str], list[str]]:
    """The requester (To) and the other participants (Cc), without any staff or own address."""
    staff = set(session.scalars(select(Agent.email)))
    rows = session.execute(
        select(Participant.email, Participant.role)
        .where(Participant.ticket_id == ticket.id)
        .order_by(Participant.id)
    ).all()
    requester = ticket.requester.email if ticket.requester else None
    emails = [requester] if requester else []
    emails += [e for e, role in rows if role == "requester"] + [e for e, _ in rows]
    clean = [e for e in dict.fromkeys(emails) if e and e not in staff and not ours(e, support)]
    return clean[:1], clean[1:]


def ours(address: str, support: Sequence[str]) -> bool:
    """One of our support addresses, or a plus-address (reply token) of one."""
    local, _, domain = address.lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}" in support


def client_parent(session: Session, ticket_id: int) -> Message | None:
    """The client's last public message: what a reply answers."""
    return session.scalar(
        select(Message)
        .where(
            Message.ticket_id == ticket_id,
            Message.direction == "in",
            Message.visibility == "public",
            Message.author_agent_id.is_(None),
        )
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
    )


def quotes_internal(session: Session, ticket_id: int, text: str) -> bool:
    """Does a public reply carry the text of an internal note (a quote the cutter missed)?

    The last line of defence: notifications show the latest message, which may be a note,
    and a mail client may quote it in a form the quote cutter does not recognise."""
    flat = _flat(text)
    if not flat:
        return False
    notes = session.scalars(
        select(Message.text_new).where(
            Message.ticket_id == ticket_id, Message.visibility == "internal"
        )
    )
    for note in notes:
        probe = _flat(note)[:80]
        if len(probe) >= 12 and probe in flat:
            return True
    return False


def _flat(text: str) -> str:
    lines = (line.lstrip("> \t") for line in (text or "").lower().splitlines())
    return " ".join(" ".join(lines).split())
