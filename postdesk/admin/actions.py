"""What staff do to a ticket from the admin or the API: reply, note, change a field.

Each runs inside the caller's transaction; a refused change raises ``WorkflowError`` and
the caller rolls back and shows the reason.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from postdesk.gateway.app import App
from postdesk.outbound.agent_notify import Notice, notify_agents, staff_on
from postdesk.outbound.public_reply import (
    client_recipients,
    quotes_internal,
    send_public_reply_mail,
)
from postdesk.rules.engine import event_for
from postdesk.rules.fire import fire
from postdesk.store import changes
from postdesk.store.audit_log import audit
from postdesk.store.changes import Change
from postdesk.store.models import Agent, Message, Ticket
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
    support = core.support.known()  # inside the caller's transaction: no database read
    to, cc = client_recipients(session, ticket, support)
    if not to:
        raise WorkflowError("this ticket has no client address to answer")
    if quotes_internal(session, ticket.id, body):
        raise WorkflowError("the reply contains the text of an internal note; not sent")
    item = send_public_reply_mail(
        session,
        ident=core.pipeline.ident,
        renderer=core.renderer,
        ticket=ticket,
        agent=agent,
        text=body,
        support=support,
        now=now,
        to=to,
        cc=cc,
    )
    session.flush()
    message = session.scalar(select(Message).where(Message.message_id == item.message_id))
    if message is None:  # suppressed recipients: nothing was sent, say so
        raise WorkflowError(f"not sent: {item.last_error or 'every recipient is suppressed'}")
    audit(session, ticket.id, agent.email, "reply", detail=f"to {', '.join([*to, *cc])}", at=now)
    if then_status:
        made = changes.set_status(session, ticket, then_status, actor=agent.email, now=now)
        _fire(session, core, ticket, made, now)
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
        agents=staff_on(session, ticket),
        notice=Notice(
            "note", f"{agent.name or agent.email} wrote a note on #{ticket.id}", agent.email
        ),
        now=now,
        message=message,
    )
    return message


def change(
    session: Session,
    core: App,
    agent: Agent,
    ticket: Ticket,
    field: str,
    value: str,
    *,
    now: datetime,
) -> Change | None:
    """One field through ``store.changes`` (audited, workflow-checked); the rules then see the
    change (an assignment notifies the assignee, a resolution tells the client, ...)."""
    made = _change(session, agent, ticket, field, value, now=now)
    _fire(session, core, ticket, made, now)
    return made


def _fire(session: Session, core: App, ticket: Ticket, made: Change | None, now: datetime) -> None:
    fire(
        session,
        core.rules,
        ticket=ticket,
        events=[event_for(made)],
        now=now,
        renderer=core.renderer,
        ident=core.pipeline.ident,
    )


def _change(
    session: Session, agent: Agent, ticket: Ticket, field: str, value: str, *, now: datetime
) -> Change | None:
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
