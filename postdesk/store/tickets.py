"""Repository functions for tickets, contacts and messages, and the threading lookup over them."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from postdesk.store.models import (
    Agent,
    ClientDomain,
    Contact,
    Message,
    OutboxItem,
    Participant,
    Ticket,
)
from postdesk.store.session_cache import cache
from postdesk.threading.decide import TicketRef


class SqlThreadLookup:
    """``ThreadLookup`` over the store: our outgoing Message-IDs and every stored message's."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def by_message_id(self, message_id: str) -> TicketRef | None:
        mid = message_id.strip().strip("<>").lower()
        if not mid:
            return None
        ticket_id = self.session.scalar(
            select(Message.ticket_id).where(Message.message_id == mid).limit(1)
        )
        if ticket_id is None:
            ticket_id = self.session.scalar(
                select(OutboxItem.ticket_id).where(OutboxItem.message_id == mid).limit(1)
            )
        return self.by_number(ticket_id) if ticket_id is not None else None

    def by_number(self, number: int) -> TicketRef | None:
        ticket = self.session.get(Ticket, number)
        if ticket is None:
            return None
        return TicketRef(
            ticket.id,
            ticket.status,
            ticket.resolved_at,
            frozenset(participant_emails(self.session, ticket)),
        )


def participant_emails(session: Session, ticket: Ticket) -> set[str]:
    emails = set(
        session.scalars(select(Participant.email).where(Participant.ticket_id == ticket.id))
    )
    if ticket.assignee is not None:
        emails.add(ticket.assignee.email)
    return emails


def contact_for(session: Session, email: str, name: str = "") -> Contact:
    """The contact for an address, created on first sight and linked to its client by domain."""
    email = email.lower()
    known = cache(session, "contacts")
    contact = known.get(email) or session.scalar(select(Contact).where(Contact.email == email))
    if contact is None:
        domain = email.rpartition("@")[2]
        org_id = session.scalar(select(ClientDomain.org_id).where(ClientDomain.domain == domain))
        contact = Contact(email=email, name=name[:200], org_id=org_id)
        session.add(contact)
        session.flush()
    known[email] = contact
    if name and not contact.name:
        contact.name = name[:200]
    return contact


def agent_by_email(session: Session, email: str) -> Agent | None:
    return session.scalar(select(Agent).where(Agent.email == email.lower(), Agent.active.is_(True)))


def no_participants_yet(session: Session, ticket_id: int) -> None:
    """Note that a ticket created in this transaction has no participants: none to look up."""
    cache(session, "participants")[ticket_id] = set()


def add_participants(
    session: Session, ticket_id: int, emails: Iterable[str], role: str = "cc"
) -> None:
    known = cache(session, "participants")
    existing = known.get(ticket_id)
    if existing is None:
        existing = known[ticket_id] = set(
            session.scalars(select(Participant.email).where(Participant.ticket_id == ticket_id))
        )
    for email in emails:
        email = email.lower()
        if email and email not in existing:
            session.add(Participant(ticket_id=ticket_id, email=email, role=role))
            existing.add(email)


def thread_messages(session: Session, ticket_id: int) -> list[Message]:
    return list(
        session.scalars(
            select(Message)
            .where(Message.ticket_id == ticket_id)
            .order_by(Message.created_at, Message.id)
        )
    )
