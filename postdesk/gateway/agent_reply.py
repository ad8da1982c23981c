"""An agent's text, once commands are applied: an internal note, or a public reply to the client.

The public reply goes from the support address ("<Agent> at <Support>"), to the requester
and the CC participants only — never to an agent's address — threaded into the *client's*
conversation: In-Reply-To is the client's last message, References its chain, not the
internal notification the agent answered. The agent's private address appears nowhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from postdesk.contracts import BlobStore
from postdesk.gateway.ticketing import store_message
from postdesk.inbound.message import AttachmentRef, InboundMessage
from postdesk.outbound.agent_notify import Notice, notify_agents, staff_on
from postdesk.outbound.compose import OutgoingAttachment
from postdesk.outbound.public_reply import (
    client_recipients,
    ours,
    send_public_reply_mail,
)
from postdesk.outbound.render import Renderer
from postdesk.outbound.ticket_mail import MailIdentity
from postdesk.rules.engine import Rule
from postdesk.rules.escalation import DEFAULT_HIERARCHY, Level
from postdesk.store.audit_log import audit
from postdesk.store.models import (
    Agent,
    Attachment,
    InboxItem,
    Message,
    OutboxItem,
    Ticket,
)
from postdesk.store.tickets import add_participants
from postdesk.threading.decide import ThreadDecision

MAX_ATTACHED_BYTES = 20 * 1024 * 1024  # above this the reply lists the files instead


@dataclass(frozen=True, slots=True)
class ReplyContext:
    session: Session
    ident: MailIdentity
    renderer: Renderer
    blobs: BlobStore
    support: Sequence[str]
    now: datetime
    rules: Sequence[Rule] = ()  # run on the changes an agent's commands make
    escalation: Sequence[Level] = DEFAULT_HIERARCHY


def replies_to_internal(session: Session, inbound: InboundMessage) -> bool:
    """Does the mail answer an internal note, or our notification about one?"""
    for mid in (m.lower().strip("<>") for m in inbound.in_reply_to):
        internal = session.scalar(
            select(Message.id).where(Message.message_id == mid, Message.visibility == "internal")
        )
        note_notice = session.scalar(
            select(OutboxItem.id).where(
                OutboxItem.message_id == mid, OutboxItem.kind == "notify:note"
            )
        )
        if internal is not None or note_notice is not None:
            return True
    return False


def store_note(
    ctx: ReplyContext,
    ticket: Ticket,
    agent: Agent,
    inbound: InboundMessage,
    row: InboxItem,
    decision: ThreadDecision,
    text: str,
    *,
    kind: str = "note",
    notify: bool = True,
) -> Message:
    """Keep the agent's mail as an internal message and tell the other staff on the ticket."""
    note = store_message(
        ctx.session,
        ticket,
        inbound,
        row,
        kind=kind,
        decision=decision,
        support=ctx.support,
        now=ctx.now,
        visibility="internal",
        join_thread=False,  # staff never become participants of the client's thread
    )
    note.author_agent_id = agent.id
    note.text_new = text
    ticket.updated_at = ctx.now
    if notify:
        notify_agents(
            ctx.session,
            ident=ctx.ident,
            renderer=ctx.renderer,
            ticket=ticket,
            agents=staff_on(ctx.session, ticket),
            notice=Notice(
                "note", f"{agent.name or agent.email} wrote an internal note", agent.email
            ),
            now=ctx.now,
            message=note,
        )
    return note


def send_public_reply(
    ctx: ReplyContext,
    ticket: Ticket,
    agent: Agent,
    inbound: InboundMessage,
    row: InboxItem,
    decision: ThreadDecision,
    text: str,
) -> str:
    session = ctx.session
    to, cc = client_recipients(session, ticket, ctx.support)
    if not to:
        store_note(ctx, ticket, agent, inbound, row, decision, text, notify=False)
        audit(session, ticket.id, agent.email, "reply_not_sent", detail="no client to answer")
        return "agent reply kept as a note: the ticket has no client address"
    files, listed = _attachments(ctx.blobs, inbound.attachments)
    item = send_public_reply_mail(
        session,
        ident=ctx.ident,
        renderer=ctx.renderer,
        ticket=ticket,
        agent=agent,
        text=text,
        support=ctx.support,
        now=ctx.now,
        to=to,
        cc=cc,
        attachments=files,
        listed=listed,
    )
    stored = session.scalar(select(Message).where(Message.message_id == item.message_id))
    if stored is None:
        # Every recipient is suppressed (a hard bounce): nothing went out. Keep the agent's
        # text on the ticket and say so, rather than report a reply that was never sent.
        store_note(ctx, ticket, agent, inbound, row, decision, text, notify=False)
        why = item.last_error or "every recipient is suppressed"
        audit(session, ticket.id, agent.email, "reply_not_sent", detail=why[:2000], at=ctx.now)
        return f"agent reply kept as a note, not sent: {why}"
    stored.inbox_id = row.id
    for ref in inbound.attachments:
        session.add(_attachment_row(stored.id, ref))
    return f"agent reply sent to {', '.join([*to, *cc])}"


def direct_recipients(
    session: Session, inbound: InboundMessage, support: Sequence[str]
) -> list[str]:
    """Clients the agent wrote to directly (reply-all from their own client), not through us."""
    staff = set(session.scalars(select(Agent.email)))
    found = [a.email for a in (*inbound.to, *inbound.cc)]
    return [e for e in dict.fromkeys(found) if e not in staff and not ours(e, support)]


def record_direct_reply(
    ctx: ReplyContext,
    ticket: Ticket,
    agent: Agent,
    inbound: InboundMessage,
    row: InboxItem,
    decision: ThreadDecision,
    text: str,
    recipients: Sequence[str],
) -> str:
    """The client already has the agent's own mail: keep it in the thread, send no copy."""
    message = store_message(
        ctx.session,
        ticket,
        inbound,
        row,
        kind="agent_direct",
        decision=decision,
        support=ctx.support,
        now=ctx.now,
        join_thread=False,
    )
    message.author_agent_id = agent.id
    message.text_new = text
    add_participants(ctx.session, ticket.id, recipients)
    ticket.first_response_at = ticket.first_response_at or ctx.now
    ticket.updated_at = ctx.now
    return f"agent {agent.email} wrote to {', '.join(recipients)} directly; no copy sent"


def _attachments(
    blobs: BlobStore, refs: Sequence[AttachmentRef]
) -> tuple[list[OutgoingAttachment], list[str]]:
    """Files to attach (inline images included), and the names listed instead when too big."""
    files: list[OutgoingAttachment] = []
    listed: list[str] = []
    total = 0
    for ref in refs:
        if total + ref.size > MAX_ATTACHED_BYTES or not blobs.exists(ref.sha256):
            listed.append(ref.filename)
            continue
        total += ref.size
        files.append(OutgoingAttachment(ref.filename, ref.content_type, blobs.get(ref.sha256)))
    return files, listed


def _attachment_row(message_id: int, ref: AttachmentRef) -> Attachment:
    return Attachment(
        message_id=message_id,
        filename=ref.filename,
        content_type=ref.content_type,
        size=ref.size,
        sha256=ref.sha256,
        content_id=ref.content_id,
        inline=ref.inline,
    )
