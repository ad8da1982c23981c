"""Change a ticket's status, type, priority, assignee, tags and fields — with an audit entry.

Every writer (the mail pipeline, agents' mail commands, rules, the scheduler, the admin)
goes through these functions, so the workflow of ``postdesk.store.workflow`` is enforced in
one place and every change is recorded: who, when, from -> to. Each returns the ``Change``
it made (None when nothing changed) so the caller can raise the matching rules event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from postdesk.store.audit_log import audit
from postdesk.store.enums import Status
from postdesk.store.models import Agent, Ticket
from postdesk.store.workflow import (
    WorkflowError,
    parse_priority,
    parse_status,
    parse_type,
    status_refusal,
    type_refusal,
)


@dataclass(frozen=True, slots=True)
class Change:
    ticket_id: int
    field: str  # status | type | priority | assignee | tag | field:<name>
    old: str | None
    new: str | None
    actor: str


def set_status(
    session: Session,
    ticket: Ticket,
    target: str,
    *,
    actor: str,
    now: datetime,
    detail: str | None = None,
) -> Change | None:
    status = parse_status(target)
    refusal = status_refusal(ticket.type, ticket.status, status)
    if refusal is not None:
        raise WorkflowError(refusal)
    if ticket.status == status:
        return None
    old = ticket.status
    ticket.status = status
    ticket.status_changed_at = now
    ticket.updated_at = now
    if status == Status.RESOLVED:
        ticket.resolved_at = now
    elif status == Status.CLOSED:
        ticket.closed_at = now
        ticket.resolved_at = ticket.resolved_at or now
    else:
        ticket.resolved_at = None
    return _record(session, ticket, "status", old, status, actor, now, detail)


def set_type(
    session: Session, ticket: Ticket, target: str, *, actor: str, now: datetime
) -> Change | None:
    kind = parse_type(target)
    refusal = type_refusal(ticket.type, kind, ticket.status)
    if refusal is not None:
        raise WorkflowError(refusal)
    if ticket.type == kind:
        return None
    old, ticket.type = ticket.type, kind
    ticket.updated_at = now
    return _record(session, ticket, "type", old, kind, actor, now, None)


def set_priority(
    session: Session, ticket: Ticket, target: str, *, actor: str, now: datetime
) -> Change | None:
    priority = parse_priority(target)
    if ticket.priority == priority:
        return None
    old, ticket.priority = ticket.priority, priority
    ticket.updated_at = now
    return _record(session, ticket, "priority", old, priority, actor, now, None)


def assign(
    session: Session,
    ticket: Ticket,
    agent: Agent | None,
    *,
    actor: str,
    now: datetime,
    detail: str | None = None,
) -> Change | None:
    """Assign (or unassign with None). ``actor`` "rule:<name>" marks an automatic assignment,
    which never replaces a manual one."""
    automatic = actor.startswith("rule:")
    if automatic and ticket.assignee_id is not None and not _by_rule(ticket.assigned_by):
        raise WorkflowError("the ticket was assigned by hand; rules do not reassign it")
    if agent is not None and not agent.active:
        raise WorkflowError(f"{agent.email} is not an active agent")
    new_id = agent.id if agent is not None else None
    if ticket.assignee_id == new_id:
        return None
    old = ticket.assignee.email if ticket.assignee is not None else None
    ticket.assignee = agent
    ticket.assignee_id = new_id
    ticket.assigned_by = actor if agent is not None else None
    ticket.updated_at = now
    return _record(
        session, ticket, "assignee", old, agent.email if agent else None, actor, now, detail
    )


def add_tag(
    session: Session, ticket: Ticket, tag: str, *, actor: str, now: datetime
) -> Change | None:
    tag = tag.strip().lower()
    if not tag or len(tag) > 50:
        raise WorkflowError("a tag is 1 to 50 characters")
    if tag in ticket.tags:
        return None
    ticket.tags = [*ticket.tags, tag]  # a new list, so the JSON column is seen as changed
    return _record(session, ticket, "tag", None, tag, actor, now, None)


def set_field(
    session: Session, ticket: Ticket, name: str, value: str | None, *, actor: str, now: datetime
) -> Change | None:
    """A free field such as ``stores_affected`` or ``desired_outcome``."""
    old = ticket.fields.get(name)
    if old == value:
        return None
    fields = dict(ticket.fields)
    if value is None:
        fields.pop(name, None)
    else:
        fields[name] = value
    ticket.fields = fields
    ticket.updated_at = now
    return _record(session, ticket, f"field:{name}", old, value, actor, now, None)


def _by_rule(assigned_by: str | None) -> bool:
    return assigned_by is None or assigned_by.startswith("rule:")


def _record(
    session: Session,
    ticket: Ticket,
    field: str,
    old: str | None,
    new: str | None,
    actor: str,
    now: datetime,
    detail: str | None,
) -> Change:
    action = "tag" if field == "tag" else field.split(":", 1)[0]
    audit(
        session,
        ticket.id,
        actor,
        action,
        field=field,
        old=None if old is None else str(old),
        new=None if new is None else str(new),
        detail=detail,
        at=now,
    )
    return Change(
        ticket.id,
        field,
        None if old is None else str(old),
        None if new is None else str(new),
        actor,
    )
