"""Escalation: move a ticket one level up the hierarchy, beside it an internal Escalation ticket.

The escalation ticket (type ``escalation``, ``linked_ticket_id`` = the client ticket) is the
internal thread where staff discuss it; it is reused for later escalations of the same ticket.
It never reaches the client: it has no requester or participants, and
``outbound.ticket_mail`` refuses to mail anyone but agents about it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from postdesk.rules.schema import Level
from postdesk.store.audit_log import audit
from postdesk.store.changes import Change
from postdesk.store.enums import Status, TicketType
from postdesk.store.models import Agent, Message, Ticket
from postdesk.store.workflow import ESCALATION_TYPES, WorkflowError

DEFAULT_HIERARCHY: tuple[Level, ...] = (Level(name="manager", managers=True),)


@dataclass(frozen=True, slots=True)
class Escalated:
    change: Change
    level: Level
    escalation_ticket: Ticket


def escalate(
    session: Session,
    ticket: Ticket,
    actor: str,
    now: datetime,
    escalation_type: str | None = None,
    *,
    hierarchy: Sequence[Level] = DEFAULT_HIERARCHY,
    reason: str = "",
) -> Escalated:
    """Raise ``ticket`` one level (staying at the top once there) and record it internally."""
    if ticket.type == TicketType.ESCALATION:
        raise WorkflowError("escalate the client's ticket, not its escalation")
    if ticket.status == Status.CLOSED:
        raise WorkflowError("a closed ticket cannot be escalated")
    if escalation_type is not None and escalation_type.lower() not in ESCALATION_TYPES:
        raise WorkflowError(
            f"unknown escalation type {escalation_type!r} (one of: {', '.join(ESCALATION_TYPES)})"
        )
    if not hierarchy:
        raise WorkflowError("no escalation hierarchy is configured")
    old = ticket.escalation_level or 0
    new = min(old + 1, len(hierarchy))
    level = hierarchy[new - 1]
    ticket.escalation_level = new
    ticket.updated_at = now
    internal = _escalation_ticket(session, ticket, now, escalation_type)
    text = (
        f"Ticket #{ticket.id} escalated by {actor} to level {new} ({level.name})"
        + (f", type {escalation_type}" if escalation_type else "")
        + (f": {reason}" if reason else ".")
    )
    session.add(
        Message(
            ticket_id=internal.id,
            direction="in",
            visibility="internal",
            kind="escalation",
            author_agent_id=_agent_id(session, actor),
            from_address=actor if "@" in actor else "",
            subject=internal.subject,
            message_id=f"escalation-{internal.id}-{new}-{int(now.timestamp())}@postdesk.invalid",
            text_full=text,
            text_new=text,
            created_at=now,
        )
    )
    detail = f"level {old} -> {new} ({level.name}); escalation ticket #{internal.id}"
    audit(
        session,
        ticket.id,
        actor,
        "escalation_level",
        field="escalation_level",
        old=str(old),
        new=str(new),
        detail=detail,
        at=now,
    )
    audit(session, internal.id, actor, "escalated", detail=text, at=now)
    change = Change(ticket.id, "escalation_level", str(old), str(new), actor)
    return Escalated(change, level, internal)


def escalation_ticket_for(session: Session, ticket: Ticket) -> Ticket | None:
    return session.scalar(
        select(Ticket)
        .where(
            Ticket.linked_ticket_id == ticket.id,
            Ticket.type == TicketType.ESCALATION,
            Ticket.status != Status.CLOSED,
        )
        .order_by(Ticket.id.desc())
        .limit(1)
    )


def _escalation_ticket(
    session: Session, ticket: Ticket, now: datetime, escalation_type: str | None
) -> Ticket:
    found = escalation_ticket_for(session, ticket)
    if found is not None:
        if escalation_type:
            found.fields = {**found.fields, "escalation_type": escalation_type.lower()}
        found.updated_at = now
        if found.status == Status.RESOLVED:
            found.status, found.resolved_at, found.status_changed_at = Status.OPEN, None, now
        return found
    internal = Ticket(
        type=TicketType.ESCALATION,
        status=Status.NEW,
        priority=ticket.priority,
        subject=f"Escalation of #{ticket.id}: {ticket.subject}"[:998],
        org_id=ticket.org_id,
        support_address=ticket.support_address,
        origin="agent",
        linked_ticket_id=ticket.id,
        fields={"escalation_type": escalation_type.lower()} if escalation_type else {},
        tags=[],
        created_at=now,
        updated_at=now,
        status_changed_at=now,
    )
    session.add(internal)
    session.flush()
    audit(session, internal.id, "system", "created", detail=f"escalation of #{ticket.id}", at=now)
    return internal


def _agent_id(session: Session, actor: str) -> int | None:
    if "@" not in actor:
        return None
    return session.scalar(select(Agent.id).where(Agent.email == actor.lower()))
