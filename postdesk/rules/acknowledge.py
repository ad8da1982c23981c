"""The first rule of the product: a client who opens a ticket by email gets its number."""

from __future__ import annotations

from sqlalchemy.orm import Session

from postdesk.outbound.suppression import ask_blocked
from postdesk.outbound.ticket_mail import send_ticket_mail
from postdesk.rules.engine import Ahead, RuleContext
from postdesk.store.direct import ask_id
from postdesk.store.models import OutboxItem


class Acknowledge:
    name = "acknowledge"
    description = "Send the requester an acknowledgement with the ticket number."
    events: tuple[str, ...] = ("ticket.created",)

    def check(self, ctx: RuleContext) -> str | None:
        if ctx.ticket.origin != "email" or ctx.ticket.requester is None:
            return None
        if not ctx.may_auto_respond:
            return None
        return f"new ticket from {ctx.ticket.requester.email}"

    def ask_ahead(self, session: Session, ahead: Ahead) -> None:
        """The acknowledgement's check of its one recipient (suppressed? capped?), and its
        outbox row's id (the ticket is new in this transaction: no other mail of it can
        take a later id and commit first)."""
        if ahead.sender and ahead.may_auto_respond:
            ask_blocked(session, [ahead.sender], ahead.now)
            ask_id(session, OutboxItem)

    def apply(self, ctx: RuleContext) -> None:
        requester = ctx.ticket.requester
        assert requester is not None
        inbound = ctx.inbound
        send_ticket_mail(
            ctx.session,
            ident=ctx.ident,
            renderer=ctx.renderer,
            ticket=ctx.ticket,
            template="ack",
            kind="ack",
            to=[requester.email],
            context={"requester_name": requester.name, "articles": ctx.facts.get("articles", [])},
            now=ctx.now,
            parent_message_id=inbound.message_id.lower() if inbound else None,
            parent_references=[r.lower() for r in inbound.references] if inbound else (),
        )
