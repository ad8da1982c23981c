"""Document requests at work: asking the client, and the client's reply arriving.

``request_documents`` records the ask and mails the client (from "<Agent> at <Support>", with
the ticket's signed reply address, threaded into the client's conversation).
``DocumentArrival`` is a rule on ``message.received``: a client's reply fills the open
documents with its attachments (``documents.match_attachments``), tells the assignee and the
requesting agents, and answers what is still missing. Auto-replies, bounces and list mail are
never a client's answer: they fill nothing and get no answer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from postdesk.outbound.agent_notify import Notice, notify_agents
from postdesk.outbound.public_reply import client_parent, client_recipients
from postdesk.outbound.render import Renderer
from postdesk.outbound.ticket_mail import MailIdentity, send_ticket_mail
from postdesk.rules.documents import (
    DocumentError,
    IncomingFile,
    Wanted,
    clean_names,
    match_attachments,
    plain_text,
)
from postdesk.rules.engine import RuleContext
from postdesk.store import changes
from postdesk.store.audit_log import audit
from postdesk.store.document_models import DocumentRequest, RequestedDocument
from postdesk.store.documents import create_request, open_requests, ticket_documents
from postdesk.store.enums import Status, TicketType
from postdesk.store.models import Agent, Attachment, Message, Ticket
from postdesk.store.workflow import DONE, WorkflowError

MAX_NOTE = 100_000


class DocumentRequestRefused(WorkflowError):
    """A request the ticket cannot take (internal ticket, no client, closed)."""


def request_documents(
    session: Session,
    *,
    ident: MailIdentity,
    renderer: Renderer,
    ticket: Ticket,
    names: Sequence[str],
    agent: Agent | None,
    actor: str,
    support: Sequence[str],
    now: datetime,
    note: str = "",
    first_message: bool = False,
    wait: bool = True,
) -> DocumentRequest:
    """Record the request, mail the client and, with ``wait``, wait for them (Pending where
    the workflow allows). ``first_message``: the mail opens a staff-initiated conversation."""
    try:
        wanted = clean_names(names)
    except DocumentError as exc:
        raise DocumentRequestRefused(str(exc)) from None
    note = plain_text(note).strip()
    if len(note) > MAX_NOTE:
        raise DocumentRequestRefused(f"the message has at most {MAX_NOTE} characters")
    if ticket.type == TicketType.ESCALATION:
        raise DocumentRequestRefused("an escalation ticket is internal: no client to ask")
    if ticket.status in DONE:
        raise DocumentRequestRefused(f"ticket #{ticket.id} is {ticket.status}")
    to, cc = client_recipients(session, ticket, support)
    if not to:
        raise DocumentRequestRefused(f"ticket #{ticket.id} has no client address to write to")
    request = create_request(
        session,
        ticket.id,
        wanted,
        requested_by=agent.email if agent else actor,
        agent_id=agent.id if agent else None,
        note=note,
        now=now,
    )
    parent = client_parent(session, ticket.id)
    name = f"{agent.name} at {ident.support_name}" if agent and agent.name else None
    send_ticket_mail(
        session,
        ident=ident,
        renderer=renderer,
        ticket=ticket,
        template="document_request",
        kind="document_request",
        to=to,
        cc=cc,
        context={
            "documents": wanted,
            "note": note,
            "first_message": first_message,
            "agent_name": agent.name if agent else "",
            "requester_name": ticket.requester.name if ticket.requester else "",
        },
        now=now,
        parent_message_id=parent.message_id if parent else None,
        parent_references=parent.references if parent else (),
        automatic=False,  # staff asked: not an automatic answer, never capped
        from_name=name,
        author_agent_id=agent.id if agent else None,
    )
    audit(
        session,
        ticket.id,
        request.requested_by,
        "document_requested",
        detail=f"request {request.id}: {', '.join(wanted)}",
        at=now,
    )
    if wait and ticket.status in (Status.NEW, Status.OPEN):
        # A type that never waits on the client (a question) keeps its status.
        with contextlib.suppress(WorkflowError):
            changes.set_status(
                session,
                ticket,
                Status.PENDING,
                actor=request.requested_by,
                now=now,
                detail="waiting for documents",
            )
    ticket.updated_at = now
    return request


class DocumentArrival:
    name = "document-arrival"
    description = "A client's reply fills requested documents; otherwise say what is missing."
    events: tuple[str, ...] = ("message.received",)

    def check(self, ctx: RuleContext) -> str | None:
        m = ctx.message
        if m is None or m.direction != "in" or m.visibility != "public":
            return None
        if m.kind != "normal" or m.author_agent_id is not None or m.author_contact_id is None:
            return None  # auto-replies, bounces, list mail and staff mail answer nothing
        if not open_requests(ctx.session, ctx.ticket.id):
            return None
        return f"{m.from_address} replied while documents are requested"

    def apply(self, ctx: RuleContext) -> None:
        message = ctx.message
        assert message is not None
        s, t = ctx.session, ctx.ticket
        s.flush()  # the attachments of the message just stored
        files = list(
            s.scalars(
                select(Attachment)
                .where(Attachment.message_id == message.id)
                .order_by(Attachment.id)
            )
        )
        docs = ticket_documents(s, t.id)
        wanted = [Wanted(d.id, d.name, d.received_at is not None) for d in docs]
        incoming = [IncomingFile(f.id, f.filename, f.inline, f.size) for f in files]
        matches = match_attachments(wanted, incoming)
        by_id = {d.id: d for d in docs}
        names = {f.id: f.filename for f in files}
        filled: list[RequestedDocument] = []
        for match in matches:
            doc = by_id[match.document_id]
            doc.attachment_id, doc.received_at = match.attachment_id, ctx.now
            filled.append(doc)
            audit(
                s,
                t.id,
                message.from_address,
                "document_received",
                field=doc.name[:50],
                new=names[match.attachment_id][:200],
                detail=f"request {doc.request_id}: {doc.name} <- "
                f"{names[match.attachment_id]} (matched by {match.how})",
                at=ctx.now,
            )
        filled.sort(key=lambda d: (d.request_id, d.position))
        _close_fulfilled(s, t, ctx.now, {d.request_id for d in filled})
        missing = [d.name for d in docs if d.received_at is None]
        if filled:
            _tell_staff(ctx, filled, missing)
        if missing and ctx.may_auto_respond:
            _still_missing(ctx, message, [d.name for d in filled], missing)


def _close_fulfilled(s: Session, t: Ticket, now: datetime, request_ids: set[int]) -> None:
    for request in open_requests(s, t.id):
        if request.id in request_ids and all(d.received_at for d in request.documents):
            request.fulfilled_at = now
            audit(
                s,
                t.id,
                "rule:document-arrival",
                "documents_complete",
                detail=f"request {request.id}: every document received",
                at=now,
            )


def _tell_staff(ctx: RuleContext, filled: list[RequestedDocument], missing: list[str]) -> None:
    s, t = ctx.session, ctx.ticket
    ids = {d.request.agent_id for d in filled if d.request.agent_id is not None}
    if t.assignee_id is not None:
        ids.add(t.assignee_id)
    if not ids and t.org is not None and t.org.csm_agent_id is not None:
        ids.add(t.org.csm_agent_id)  # nobody asked by name, nobody assigned: the CSM
    agents = list(s.scalars(select(Agent).where(Agent.id.in_(ids)).order_by(Agent.id)))
    rows = s.execute(
        select(Attachment.id, Attachment.filename).where(
            Attachment.id.in_([d.attachment_id for d in filled])
        )
    )
    files = {att_id: filename for att_id, filename in rows}
    got = ", ".join(f"{d.name} ({files.get(d.attachment_id or 0, '?')})" for d in filled)
    rest = f"; still missing: {', '.join(missing)}" if missing else "; nothing missing"
    assert ctx.message is not None
    told = notify_agents(
        s,
        ident=ctx.ident,
        renderer=ctx.renderer,
        ticket=t,
        agents=agents,
        notice=Notice(
            "document", f"#{t.id}: received {got}{rest}", ctx.message.from_address or "system"
        ),
        now=ctx.now,
        message=ctx.message,
    )
    # This notice says more than "the client replied": the policy rules that run next on
    # the same message skip whoever was told here (one mail per agent per event).
    ctx.facts.setdefault("notified", set()).update(a.id for a in told)


def _still_missing(ctx: RuleContext, message: Message, got: list[str], missing: list[str]) -> None:
    """The automatic answer to a reply that left documents open; capped like every
    automatic mail, so a responder loop cannot make it repeat."""
    inbound = ctx.inbound
    send_ticket_mail(
        ctx.session,
        ident=ctx.ident,
        renderer=ctx.renderer,
        ticket=ctx.ticket,
        template="document_missing",
        kind="document_missing",
        to=[message.from_address],
        context={"received": got, "missing": missing},
        now=ctx.now,
        parent_message_id=message.message_id,
        parent_references=[r.lower() for r in inbound.references] if inbound else (),
    )
    audit(
        ctx.session,
        ctx.ticket.id,
        "rule:document-arrival",
        "document_missing_sent",
        detail=f"told {message.from_address}: still missing {', '.join(missing)}",
        at=ctx.now,
    )
