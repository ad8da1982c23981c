"""What staff do to a ticket from the admin or the API: reply, note, change a field.

Each runs inside the caller's transaction; a refused change raises ``WorkflowError`` and
the caller rolls back and shows the reason.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from postdesk.gateway.app import App
from postdesk.outbound.agent_notify import Notice, notify_agents
from postdesk.outbound.ticket_mail import send_ticket_mail
from postdesk.store import changes
from postdesk.store.changes import Change
from postdesk.store.models import Agent, Message, Participant, Ticket
from postdesk.store.tickets import audit
from postdesk.store.workflow import WorkflowError
from postdesk.threading.tokens import make_message_id

MAX_BODY = 100_000
FIELDS = ("status", "priority", "type", "assignee")


def _body(text: str) -> str:
    body = text.replace("\r\n", "\n").strip()
    if not body:
        raise WorkflowError("write something first")
    if len(body) > MAX_BODY:
        raise WorkflowError(f"at most {MAX_BODY} characters")
    return body


def reply(
    session: Session,
    core: App,
    agent: Agent,
    ticket: Ticket,
    text: str,
    *,
    now: datetime,
    then_status: str | None = None,
) -> Message:
    """A public reply to the requester (CC: the other participants) from the support address."""
    body = _body(text)
    if ticket.requester is None:
        raise WorkflowError("this ticket has no requester to answer")
    requester = ticket.requester.email
    ours = {a.lower() for a in core.settings.support_addresses} | {ticket.support_address}
    staff = set(session.scalars(select(Agent.email)))
    cc = [
        p
        for p in session.scalars(
            select(Participant.email).where(Participant.ticket_id == ticket.id)
        )
        if p != requester and p not in ours and p not in staff
    ]
    parent = session.scalar(
        select(Message)
        .where(
            Message.ticket_id == ticket.id,
            Message.direction == "in",
            Message.visibility == "public",
        )
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
    )
    pipeline = core.pipeline
    item = send_ticket_mail(
        session,
        ident=pipeline.ident,
        renderer=core.renderer,
        ticket=ticket,
        template="agent_reply",
        kind="reply",
        to=[requester],
        cc=cc,
        context={"body": body, "agent_name": agent.name or agent.email},
        now=now,
        parent_message_id=parent.message_id if parent else None,
        parent_references=parent.references if parent else (),
        automatic=False,
    )
    session.flush()
    message = session.scalar(select(Message).where(Message.message_id == item.message_id))
    if message is None:  # suppressed recipients: nothing was sent, say so
        raise WorkflowError(f"not sent: {item.last_error or 'every recipient is suppressed'}")
    message.author_agent_id = agent.id
    message.text_new = body
    ticket.first_response_at = ticket.first_response_at or now
    ticket.updated_at = now
    audit(session, ticket.id, agent.email, "reply", detail=f"to {requester}", at=now)
    if then_status:
        changes.set_status(session, ticket, then_status, actor=agent.email, now=now)
    return message


def note(
    session: Session, core: App, agent: Agent, ticket: Ticket, text: str, *, now: datetime
) -> Message:
    """An internal note: never mailed to the client; the other staff on the ticket are told."""
    body = _body(text)
    domain = ticket.support_address.rpartition("@")[2] or "localhost"
    message = Message(
        ticket_id=ticket.id,
        direction="out",
        visibility="internal",
        kind="note",
        author_agent_id=agent.id,
        from_address=agent.email,
        from_name=agent.name,
        subject=ticket.subject,
        message_id=make_message_id(domain, ticket.id, core.pipeline.ident.key),
        text_full=body,
        text_new=body,
        created_at=now,
    )
    session.add(message)
    session.flush()
    ticket.updated_at = now
    notify_agents(
        session,
        ident=core.pipeline.ident,
        renderer=core.renderer,
        ticket=ticket,
        agents=_staff_of(session, ticket),
        notice=Notice(
            "note", f"{agent.name or agent.email} wrote a note on #{ticket.id}", agent.email
        ),
        now=now,
        message=message,
    )
    return message


def change(
    session: Session, agent: Agent, ticket: Ticket, field: str, value: str, *, now: datetime
) -> Change | None:
    """One field through ``store.changes`` (audited, workflow-checked)."""
    actor = agent.email
    if field == "status":
        return changes.set_status(session, ticket, value, actor=actor, now=now)
    if field == "priority":
        return changes.set_priority(session, ticket, value, actor=actor, now=now)
    if field == "type":
        return changes.set_type(session, ticket, value, actor=actor, now=now)
    if field == "assignee":
        target = None
        if value.strip():
            target = session.scalar(select(Agent).where(Agent.email == value.strip().lower()))
            if target is None:
                raise WorkflowError(f"no agent {value.strip()}")
        return changes.assign(session, ticket, target, actor=actor, now=now)
    raise WorkflowError(f"unknown field {field!r} (one of: {', '.join(FIELDS)})")


def _staff_of(session: Session, ticket: Ticket) -> list[Agent]:
    """The assignee, the client's CSM and every agent who wrote on the ticket."""
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
    return list(session.scalars(select(Agent).where(Agent.id.in_(ids))))
