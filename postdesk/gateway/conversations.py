"""Staff-initiated conversations ("message client"): an agent writes to a client first.

The conversation is a ticket of type Conversation (not a support ticket), owned by the agent
who started it and waiting on the client (Pending). Its first mail goes through the same path
as every other ticket mail (``send_ticket_mail``): a stored Message-ID, the ticket's signed
reply address as Reply-To and the ticket tag in the subject, so the client simply answers and
the answer threads in. With document names it is a document request (``request_documents``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email.utils import parseaddr

from sqlalchemy import select
from sqlalchemy.orm import Session

from postdesk.gateway.app import App
from postdesk.outbound.public_reply import ours
from postdesk.outbound.ticket_mail import send_ticket_mail
from postdesk.rules.document_flow import DocumentRequestRefused, request_documents
from postdesk.rules.documents import one_line, plain_text
from postdesk.store import changes
from postdesk.store.audit_log import audit
from postdesk.store.enums import Status, TicketType
from postdesk.store.models import Agent, Ticket
from postdesk.store.tickets import add_participants, contact_for
from postdesk.store.workflow import WorkflowError

MAX_SUBJECT = 200
MAX_BODY = 100_000
ORIGINS = ("agent", "api", "web")  # the CLI, the JSON API, the admin


class ConversationRefused(WorkflowError):
    """Bad input for a new conversation; the message says what to fix."""


def client_address(value: str, support: Sequence[str]) -> tuple[str, str]:
    """``(email, name)`` of the one client to write to; raises ``ConversationRefused``."""
    name, email = parseaddr(value.strip())
    email = email.strip().lower()
    local, at, domain = email.rpartition("@")
    bad = any(c in email for c in " ,;<>") or not email.isprintable()
    if not at or not local or "." not in domain or bad:
        raise ConversationRefused(f"not an email address: {value.strip()[:100]!r}")
    if ours(email, support):
        raise ConversationRefused(f"{email} is one of our own addresses")
    return email, one_line(name)[:200]


def _subject(value: str) -> str:
    subject = one_line(value)
    if not subject:
        raise ConversationRefused("a subject is required")
    if len(subject) > MAX_SUBJECT:
        raise ConversationRefused(f"the subject has at most {MAX_SUBJECT} characters")
    return subject


def _body(value: str, required: bool) -> str:
    body = plain_text(value).strip()
    if required and not body:
        raise ConversationRefused("write a message (or name documents to request)")
    if len(body) > MAX_BODY:
        raise ConversationRefused(f"the message has at most {MAX_BODY} characters")
    return body


def start_conversation(
    session: Session,
    core: App,
    *,
    agent: Agent | None,
    to: str,
    subject: str,
    body: str,
    documents: Sequence[str] = (),
    origin: str = "agent",
    now: datetime,
) -> Ticket:
    """Open the conversation and enqueue its first mail, in the caller's transaction."""
    support = core.support.known()  # the settings' addresses and those added in the admin
    email, name = client_address(to, support)
    if session.scalar(select(Agent.id).where(Agent.email == email)) is not None:
        raise ConversationRefused(f"{email} is a member of staff, not a client")
    wanted = [d for d in documents if d.strip()]
    text = _body(body, required=not wanted)
    title = _subject(subject)
    actor = agent.email if agent else f"{origin}"
    contact = contact_for(session, email, name)
    ticket = Ticket(
        type=TicketType.CONVERSATION,
        status=Status.NEW,
        subject=title,
        requester=contact,
        org_id=contact.org_id,
        support_address=core.settings.primary_address,
        origin=origin if origin in ORIGINS else "agent",
        tags=[],
        fields={},
        created_at=now,
        updated_at=now,
        status_changed_at=now,
    )
    session.add(ticket)
    session.flush()
    add_participants(session, ticket.id, [email], role="requester")
    audit(session, ticket.id, actor, "created", detail=f"conversation with {email}", at=now)
    if agent is not None:
        changes.assign(session, ticket, agent, actor=actor, now=now, detail="started it")
    if wanted:
        try:
            request_documents(
                session,
                ident=core.pipeline.ident,
                renderer=core.renderer,
                ticket=ticket,
                names=wanted,
                agent=agent,
                actor=actor,
                support=support,
                now=now,
                note=text,
                first_message=True,
            )
        except DocumentRequestRefused as exc:
            raise ConversationRefused(str(exc)) from None
    else:
        _first_mail(session, core, ticket, agent, email, text, now)
        changes.set_status(
            session, ticket, Status.PENDING, actor=actor, now=now, detail="waiting for the client"
        )
    ticket.first_response_at = now
    return ticket


def _first_mail(
    session: Session,
    core: App,
    ticket: Ticket,
    agent: Agent | None,
    email: str,
    text: str,
    now: datetime,
) -> None:
    ident = core.pipeline.ident
    send_ticket_mail(
        session,
        ident=ident,
        renderer=core.renderer,
        ticket=ticket,
        template="client_message",
        kind="client_message",
        to=[email],
        context={"text": text, "agent_name": agent.name if agent else ""},
        now=now,
        automatic=False,
        from_name=f"{agent.name} at {ident.support_name}" if agent and agent.name else None,
        author_agent_id=agent.id if agent else None,
    )
