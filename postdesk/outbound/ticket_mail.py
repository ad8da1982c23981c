"""Mail about a ticket: render a template and enqueue it with the ticket's thread headers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from postdesk.outbound.compose import OutgoingAttachment, OutgoingMail, thread_references
from postdesk.outbound.limits import AutoReplyLimits
from postdesk.outbound.outbox import enqueue
from postdesk.outbound.render import Renderer
from postdesk.outbound.suppression import blocked
from postdesk.store.direct import insert_rows
from postdesk.store.enums import OutboxState, TicketType
from postdesk.store.models import Agent, Message, OutboxItem, Ticket
from postdesk.store.workflow import WorkflowError
from postdesk.threading.subject import tagged_subject
from postdesk.threading.tokens import Purpose, make_message_id, reply_address


class ClientMailRefused(WorkflowError):
    """Mail about an internal (escalation) ticket addressed to someone who is not staff."""


def _only_agents(session: Session, recipients: Sequence[str]) -> None:
    """Escalation tickets are internal: refuse any recipient that is not an active agent."""
    wanted = {r.lower() for r in recipients}
    agents = set(
        session.scalars(select(Agent.email).where(Agent.email.in_(wanted), Agent.active.is_(True)))
    )
    outsiders = sorted(wanted - agents)
    if outsiders:
        raise ClientMailRefused(
            f"an escalation ticket is internal; refusing mail to {', '.join(outsiders)}"
        )


@dataclass(frozen=True, slots=True)
class MailIdentity:
    """Who outgoing mail is from and how it is signed; built from the settings."""

    support_name: str
    key: bytes
    portal_url: str
    limits: AutoReplyLimits = field(default_factory=AutoReplyLimits)
    # A support address's own display name (set in the admin), when it has one.
    display_names: Callable[[str], str | None] | None = None

    def name_for(self, address: str) -> str:
        named = self.display_names(address) if self.display_names is not None else None
        return named or self.support_name


def send_ticket_mail(
    session: Session,
    *,
    ident: MailIdentity,
    renderer: Renderer,
    ticket: Ticket,
    template: str,
    kind: str,
    to: Sequence[str],
    context: dict[str, Any],
    now: datetime,
    parent_message_id: str | None = None,
    parent_references: Sequence[str] = (),
    cc: Sequence[str] = (),
    automatic: bool = True,
    reply_purpose: Purpose = "reply",
    from_name: str | None = None,
    capped: bool = True,
    record: bool = True,
    references_root: Sequence[str] = (),
    attachments: Sequence[OutgoingAttachment] = (),
    author_agent_id: int | None = None,
) -> OutboxItem:
    """Render ``template`` and enqueue it. ``capped``: automatic mail to these recipients counts
    against the per-recipient cap (not for staff notifications). ``record``: the mail is part of
    the client thread and stored as an outgoing message (not for staff notifications)."""
    if ticket.type == TicketType.ESCALATION:
        _only_agents(session, [*to, *cc])
    support = ticket.support_address
    domain = support.rpartition("@")[2]
    base = {"ticket": ticket, "support_name": ident.support_name, "portal_url": ident.portal_url}
    rendered = renderer.render(template, base | context)
    mail = OutgoingMail(
        kind=kind,
        ticket_id=ticket.id,
        from_address=support,
        from_name=from_name or ident.name_for(support),
        to=tuple(to),
        cc=tuple(cc),
        subject=tagged_subject(rendered.subject, ticket.id),
        text=rendered.text,
        html=rendered.html,
        message_id=make_message_id(domain, ticket.id, ident.key),
        reply_to=reply_address(support, ticket.id, ident.key, reply_purpose),
        in_reply_to=parent_message_id,
        references=thread_references([*references_root, *parent_references], parent_message_id),
        automatic=automatic,
        attachments=tuple(attachments),
    )
    # Automatic mail is capped per recipient: the last line of defence against responder loops.
    limited = automatic and capped
    held, refused = blocked(session, mail.recipients, now, ident.limits if limited else None)
    item = enqueue(session, mail, now, withheld=refused, held=held)
    if item.state == OutboxState.SUPPRESSED or not record:
        return item  # nothing goes out; the outbox row and the audit entry say why
    # The thread shows what we sent, next to what we received.
    insert_rows(
        session,
        Message,
        [
            {
                "ticket_id": ticket.id,
                "direction": "out",
                "visibility": "public",
                "kind": kind,
                "author_agent_id": author_agent_id,
                "from_address": support,
                "from_name": mail.from_name,
                "to_addresses": list(mail.to),
                "cc_addresses": list(mail.cc),
                "subject": mail.subject,
                "message_id": item.message_id,
                "in_reply_to": parent_message_id,
                "references": list(mail.references),
                "text_full": rendered.text,
                "text_new": rendered.text,
                "created_at": now,
            }
        ],
    )
    return item
