"""Tell agents about a ticket: an in-app notification and a mail they can answer.

The mail carries the ticket's context (status, priority, client, the last message), comes
from the support address with the ticket's signed *agent* reply address as Reply-To — an
answer from the agent's own mail client becomes a public reply (``#note`` makes it
internal) — and references the ticket's first message, so every notification about one
ticket sits in one thread in the agent's mail client.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from postdesk.outbound.render import Renderer
from postdesk.outbound.ticket_mail import MailIdentity, send_ticket_mail
from postdesk.store.models import Agent, Message, Notification, Ticket
from postdesk.store.workflow import status_label

KINDS = {
    "new_ticket": "New ticket",
    "client_reply": "Client replied",
    "agent_reply": "Reply sent",
    "note": "Internal note",
    "assigned": "Assigned",
    "escalated": "Escalated",
    "status": "Status changed",
    "sla_breach": "SLA breached",
    "document": "Document received",
    "resolved": "Resolved",
    "forged_sender": "Unverified sender",
}


@dataclass(frozen=True, slots=True)
class Notice:
    kind: str  # a key of KINDS
    summary: str  # one line: what happened, for the panel and the mail's first line
    actor: str = "system"  # who caused it; never notified about their own action


def notify_agents(
    session: Session,
    *,
    ident: MailIdentity,
    renderer: Renderer,
    ticket: Ticket,
    agents: Iterable[Agent],
    notice: Notice,
    now: datetime,
    message: Message | None = None,
    email: bool = True,
) -> list[Agent]:
    """Notify each active agent once (the actor excepted); returns who was notified."""
    chosen: dict[int, Agent] = {}
    for agent in agents:
        if agent.active and agent.email != notice.actor.lower():
            chosen.setdefault(agent.id, agent)
    if not chosen:
        return []
    last = message or _last_message(session, ticket.id)
    root = _first_message_id(session, ticket.id)
    for agent in chosen.values():
        session.add(
            Notification(
                agent_id=agent.id,
                ticket_id=ticket.id,
                kind=notice.kind,
                summary=notice.summary[:500],
                created_at=now,
            )
        )
        if not email:
            continue
        send_ticket_mail(
            session,
            ident=ident,
            renderer=renderer,
            ticket=ticket,
            template="agent_notification",
            kind=f"notify:{notice.kind}",
            to=[agent.email],
            context={
                "agent": agent,
                "notice": notice,
                "headline": KINDS.get(notice.kind, notice.kind),
                "status": status_label(ticket.type, ticket.status),
                "last_message": last,
                "client": ticket.org.name if ticket.org else "",
                "requester": ticket.requester.email if ticket.requester else "",
            },
            now=now,
            reply_purpose="agent",
            parent_message_id=root,
            capped=False,
            record=False,
        )
    return list(chosen.values())


def _last_message(session: Session, ticket_id: int) -> Message | None:
    return session.scalar(
        select(Message)
        .where(Message.ticket_id == ticket_id)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
    )


def _first_message_id(session: Session, ticket_id: int) -> str | None:
    return session.scalar(
        select(Message.message_id)
        .where(Message.ticket_id == ticket_id)
        .order_by(Message.created_at, Message.id)
        .limit(1)
    )


def staff_on(session: Session, ticket: Ticket) -> list[Agent]:
    """Who is told about an internal note, wherever it was written (mail or admin): the
    assignee, the client's CSM and every agent who wrote on the ticket."""
    ids = set(
        session.scalars(
            select(Message.author_agent_id).where(
                Message.ticket_id == ticket.id, Message.author_agent_id.is_not(None)
            )
        )
    )
    if ticket.assignee_id is not None:
        ids.add(ticket.assignee_id)
    if ticket.org is not None and ticket.org.csm_agent_id is not None:
        ids.add(ticket.org.csm_agent_id)
    if not ids:
        return []
    return list(session.scalars(select(Agent).where(Agent.id.in_(ids)).order_by(Agent.id)))
