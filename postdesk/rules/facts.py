"""The facts a condition can test, read from the ticket, the message and the event."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from postdesk.rules.engine import RuleContext
    from postdesk.store.models import Message, Ticket


def message_from(message: Message | None, *, staff_sender: bool = False) -> str:
    """client | agent | none.

    Staff wrote it when it names its agent author, went out, or came in from a sender the
    gateway verified as an agent (``staff_sender``). An agent's address alone proves nothing:
    a forged From must meet the client rules, not slip past them."""
    if message is None:
        return "none"
    if message.author_agent_id is not None or message.direction == "out" or staff_sender:
        return "agent"
    return "client"


def ticket_facts(ticket: Ticket, now: datetime) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "ticket.status": ticket.status,
        "ticket.priority": ticket.priority,
        "ticket.type": ticket.type,
        "ticket.subject": ticket.subject,
        "ticket.origin": ticket.origin,
        "ticket.tags": list(ticket.tags or []),
        "ticket.assigned": ticket.assignee_id is not None,
        "ticket.escalation_level": ticket.escalation_level or 0,
        "client": ticket.org.name if ticket.org else None,
    }
    if ticket.created_at is not None:
        facts["ticket.age_hours"] = (now - ticket.created_at).total_seconds() / 3600
    if ticket.status_changed_at is not None:
        facts["ticket.idle_hours"] = (now - ticket.status_changed_at).total_seconds() / 3600
    for name, value in (ticket.fields or {}).items():
        facts[f"ticket.fields.{name}"] = value
    return facts


def gather(ctx: RuleContext) -> dict[str, Any]:
    """Fresh each time: an earlier action of the same chain may have changed the ticket."""
    facts = ticket_facts(ctx.ticket, ctx.now)
    msg = ctx.message
    sender = msg.from_address.lower() if msg is not None and msg.from_address else None
    if sender is None and ctx.ticket.requester is not None and msg is None:
        sender = ctx.ticket.requester.email
    facts.update(
        {
            "message.from": _cached_from(ctx),
            "message.subject": msg.subject if msg else None,
            "message.text": (msg.text_new or msg.text_full) if msg else None,
            "message.kind": msg.kind if msg else None,
            "message.visibility": msg.visibility if msg else None,
            "message.direction": msg.direction if msg else None,
            "sender.address": sender,
            "sender.domain": sender.rpartition("@")[2] if sender else None,
            "event.actor": ctx.event.actor,
            "event.old": ctx.event.old,
            "event.new": ctx.event.new,
        }
    )
    return facts


def _cached_from(ctx: RuleContext) -> str:
    key = ("_message_from", ctx.message.id if ctx.message is not None else None)
    if key not in ctx.facts:
        ctx.facts[key] = message_from(ctx.message, staff_sender=ctx.staff_sender)  # type: ignore[index]
    return ctx.facts[key]  # type: ignore[index,no-any-return]
