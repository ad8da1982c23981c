"""Repository functions for tickets, contacts and messages, and the threading lookup over them."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from postdesk.store.direct import (
    ObjectQuery,
    ask_id,
    flush_pending,
    insert_persistent,
    insert_rows,
)
from postdesk.store.models import (
    Agent,
    ClientDomain,
    Contact,
    Message,
    OutboxItem,
    Participant,
    Ticket,
)
from postdesk.store.prepared import Prepared
from postdesk.store.session_cache import cache
from postdesk.threading.decide import TicketRef

# Built once: each runs for most inbound messages (postdesk.store.direct says why it matters).
_MESSAGE_TICKET = Prepared(
    select(Message.ticket_id).where(Message.message_id == bindparam("mid")).limit(1)
)
_OUTBOX_TICKET = Prepared(
    select(OutboxItem.ticket_id).where(OutboxItem.message_id == bindparam("mid")).limit(1)
)
_PARTICIPANTS = Prepared(
    select(Participant.email).where(Participant.ticket_id == bindparam("ticket"))
)
_CONTACT = ObjectQuery(Contact, Contact.email == bindparam("email"))
_DOMAIN_ORG = Prepared(
    select(ClientDomain.org_id).where(ClientDomain.domain == bindparam("domain"))
)
_ACTIVE_AGENT_ID = Prepared(
    select(Agent.id).where(Agent.email == bindparam("email"), Agent.active.is_(True))
)


class SqlThreadLookup:
    """``ThreadLookup`` over the store: our outgoing Message-IDs and every stored message's."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def by_message_id(self, message_id: str) -> TicketRef | None:
        mid = message_id.strip().strip("<>").lower()
        if not mid:
            return None
        ticket_id = _MESSAGE_TICKET.scalar(self.session, {"mid": mid})
        if ticket_id is None:
            ticket_id = _OUTBOX_TICKET.scalar(self.session, {"mid": mid})
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
    emails = {email for (email,) in _PARTICIPANTS.all(session, {"ticket": ticket.id})}
    if ticket.assignee is not None:
        emails.add(ticket.assignee.email)
    return emails


def contact_for(session: Session, email: str, name: str = "") -> Contact:
    """The contact for an address, created on first sight and linked to its client by domain."""
    email = email.lower()
    known = cache(session, "contacts")
    contact = known.get(email)
    if contact is None:
        flush_pending(session, Contact)  # as an ORM query would: a pending one counts
        contact = _CONTACT.first(session, {"email": email})
    if contact is None:
        domain = email.rpartition("@")[2]
        org_id = _DOMAIN_ORG.scalar(session, {"domain": domain})
        contact = insert_persistent(session, Contact(email=email, name=name[:200], org_id=org_id))
    known[email] = contact
    if name and not contact.name:
        contact.name = name[:200]
    return contact


def ask_contact(session: Session, email: str) -> None:
    """Send ``contact_for``'s reads of ``email`` ahead (``Prepared.ask``): the contact, and
    for a new one its domain's client and its id (both unused for a known contact)."""
    email = email.lower()
    if email not in cache(session, "contacts"):
        _CONTACT.prepared.ask(session, {"email": email})
        _DOMAIN_ORG.ask(session, {"domain": email.rpartition("@")[2]})
        ask_id(session, Contact)


def ask_agent(session: Session, email: str) -> None:
    """Send ``agent_by_email``'s read of ``email`` ahead (``Prepared.ask``)."""
    _ACTIVE_AGENT_ID.ask(session, {"email": email.lower()})


def agent_by_email(session: Session, email: str) -> Agent | None:
    """The active agent with this address. Asked for every inbound message, and most are
    from clients: a plain id lookup first, the agent object only when there is one."""
    with session.no_autoflush:  # nothing pending changes who is an agent
        agent_id = _ACTIVE_AGENT_ID.scalar(session, {"email": email.lower()})
        return session.get(Agent, agent_id) if agent_id is not None else None


def opened_here(session: Session, ticket_id: int) -> None:
    """Note that a ticket was created in this transaction: it has no participants and no
    rows of its own yet that were not written here too, so there is nothing to look up."""
    cache(session, "participants")[ticket_id] = set()
    cache(session, "opened")[ticket_id] = True


def is_opened_here(session: Session, ticket_id: int) -> bool:
    return ticket_id in cache(session, "opened")


def add_participants(
    session: Session, ticket_id: int, emails: Iterable[str], role: str = "cc"
) -> None:
    known = cache(session, "participants")
    existing = known.get(ticket_id)
    if existing is None:
        existing = known[ticket_id] = {
            email for (email,) in _PARTICIPANTS.all(session, {"ticket": ticket_id})
        }
    rows = []
    for email in emails:
        email = email.lower()
        if email and email not in existing:
            rows.append({"ticket_id": ticket_id, "email": email, "role": role})
            existing.add(email)
    insert_rows(session, Participant, rows)


def thread_messages(session: Session, ticket_id: int) -> list[Message]:
    return list(
        session.scalars(
            select(Message)
            .where(Message.ticket_id == ticket_id)
            .order_by(Message.created_at, Message.id)
        )
    )
