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
from postdesk.outbound.agent_notify import Notice, notify_agents
from postdesk.outbound.compose import OutgoingAttachment
from postdesk.outbound.render import Renderer
from postdesk.outbound.ticket_mail import MailIdentity, send_ticket_mail
from postdesk.store.models import (
    Agent,
    Attachment,
    InboxItem,
    Message,
    OutboxItem,
    Participant,
    Ticket,
)
from postdesk.store.tickets import add_participants, audit
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
            agents=_staff_on(ctx.session, ticket),
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
    parent = _client_parent(session, ticket.id)
    root = session.scalar(
        select(Message.message_id)
        .where(Message.ticket_id == ticket.id, Message.visibility == "public")
        .order_by(Message.created_at, Message.id)
        .limit(1)
    )
    files, listed = _attachments(ctx.blobs, inbound.attachments)
    name = f"{agent.name} at {ctx.ident.support_name}" if agent.name else ctx.ident.support_name
    item = send_ticket_mail(
        session,
        ident=ctx.ident,
        renderer=ctx.renderer,
        ticket=ticket,
        template="agent_reply",
        kind="agent_reply",
        to=to,
        cc=cc,
        context={"text": text, "agent_name": agent.name, "listed": listed},
        now=ctx.now,
        parent_message_id=parent.message_id if parent else None,
        parent_references=parent.references if parent else (),
        references_root=[root] if root else (),
        automatic=False,
        from_name=name,
        attachments=files,
        author_agent_id=agent.id,
    )
    stored = session.scalar(select(Message).where(Message.message_id == item.message_id))
    if stored is not None:
        stored.inbox_id = row.id
        for ref in inbound.attachments:
            session.add(_attachment_row(stored.id, ref))
    ticket.first_response_at = ticket.first_response_at or ctx.now
    ticket.updated_at = ctx.now
    return f"agent reply sent to {', '.join([*to, *cc])}"


def direct_recipients(
    session: Session, inbound: InboundMessage, support: Sequence[str]
) -> list[str]:
    """Clients the agent wrote to directly (reply-all from their own client), not through us."""
    staff = set(session.scalars(select(Agent.email)))
    found = [a.email for a in (*inbound.to, *inbound.cc)]
    return [e for e in dict.fromkeys(found) if e not in staff and not _ours(e, support)]


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
    clean = [e for e in dict.fromkeys(emails) if e and e not in staff and not _ours(e, support)]
    return clean[:1], clean[1:]


def _ours(address: str, support: Sequence[str]) -> bool:
    local, _, domain = address.lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}" in support


def _client_parent(session: Session, ticket_id: int) -> Message | None:
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


def _staff_on(session: Session, ticket: Ticket) -> list[Agent]:
    authors = select(Message.author_agent_id).where(
        Message.ticket_id == ticket.id, Message.visibility == "internal"
    )
    staff = list(session.scalars(select(Agent).where(Agent.id.in_(authors))))
    if ticket.assignee is not None:
        staff.insert(0, ticket.assignee)
    return staff


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
