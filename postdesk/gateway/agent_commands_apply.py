"""Apply an agent's mail commands to a ticket — all of them or, on any error, none.

Every command is checked first (syntax, the workflow from the state each command leaves, the
agent named by ``#assign``); only a clean set is applied, through ``store.changes`` so each
change carries an audit entry with the agent as actor. A refused set answers the agent with
``agent_command_error`` and sends nothing to the client.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from postdesk.inbound.agent_commands import (
    CommandError,
    ParsedCommands,
    help_lines,
    workflow_errors,
)
from postdesk.inbound.message import InboundMessage
from postdesk.outbound.render import Renderer
from postdesk.outbound.ticket_mail import MailIdentity, send_ticket_mail
from postdesk.rules.escalation import DEFAULT_HIERARCHY, Level, escalate
from postdesk.store.audit_log import audit
from postdesk.store.changes import Change, assign, set_priority, set_status, set_type
from postdesk.store.estimates import record_actual
from postdesk.store.models import Agent, Ticket


@dataclass(frozen=True, slots=True)
class Plan:
    errors: tuple[CommandError, ...]
    assignee: Agent | None = None


def plan_commands(session: Session, parsed: ParsedCommands, ticket: Ticket, agent: Agent) -> Plan:
    errors = [*parsed.errors, *workflow_errors(parsed.commands, ticket.type, ticket.status)]
    assignee: Agent | None = None
    command = parsed.get("assign")
    if command is not None:
        assignee, problem = _find_agent(session, command.arg, agent)
        if problem is not None:
            errors.append(CommandError(command.line, problem))
    return Plan(tuple(errors), assignee)


def apply_commands(
    session: Session,
    parsed: ParsedCommands,
    plan: Plan,
    ticket: Ticket,
    agent: Agent,
    *,
    now: datetime,
    hierarchy: Sequence[Level] = DEFAULT_HIERARCHY,
) -> tuple[list[str], list[Change]]:
    """Apply a checked set in the order written; returns one line per change for the log,
    and the changes, for the rules events they raise (notifications, escalation team)."""
    actor = agent.email
    done: list[str] = []
    made: list[Change] = []
    for command in parsed.commands:
        change: Change | None = None
        if command.name == "status":
            change = set_status(
                session, ticket, command.arg, actor=actor, now=now, detail="by mail"
            )
        elif command.name == "priority":
            change = set_priority(session, ticket, command.arg, actor=actor, now=now)
        elif command.name == "type":
            change = set_type(session, ticket, command.arg, actor=actor, now=now)
        elif command.name == "assign":
            change = assign(session, ticket, plan.assignee, actor=actor, now=now, detail="by mail")
        elif command.name == "escalate":
            change = escalate(
                session, ticket, actor, now, hierarchy=hierarchy, reason=command.arg or "by mail"
            ).change
        elif command.name == "time":
            spent = record_actual(session, ticket, command.arg, actor=actor, now=now)
            done.append(f"time spent: {spent.actual_minutes} min")
        if change is not None:
            made.append(change)
            done.append(f"{change.field}: {change.old} -> {change.new}")
    return done, made


def refuse(
    session: Session,
    ticket: Ticket,
    agent: Agent,
    inbound: InboundMessage,
    errors: tuple[CommandError, ...],
    *,
    ident: MailIdentity,
    renderer: Renderer,
    now: datetime,
) -> str:
    """Answer the agent with what was wrong; nothing changes and nothing reaches the client."""
    lines = "; ".join(f"{e.line}: {e.reason}" for e in errors)
    audit(session, ticket.id, agent.email, "agent_command_refused", detail=lines[:2000], at=now)
    send_ticket_mail(
        session,
        ident=ident,
        renderer=renderer,
        ticket=ticket,
        template="agent_command_error",
        kind="agent_command_error",
        to=[agent.email],
        context={"agent": agent, "errors": errors, "commands": help_lines()},
        now=now,
        parent_message_id=inbound.message_id.lower(),
        parent_references=[r.lower() for r in inbound.references],
        reply_purpose="agent",
        capped=False,
        record=False,
    )
    return f"commands refused: {lines}"


def _find_agent(session: Session, value: str, me: Agent) -> tuple[Agent | None, str | None]:
    wanted = value.strip().strip("<>").lower()
    if wanted == "me":
        return me, None
    if wanted in ("nobody", "none"):
        return None, None
    found = list(
        session.scalars(
            select(Agent).where(
                Agent.active.is_(True),
                or_(Agent.email == wanted, func.lower(Agent.name) == wanted),
            )
        )
    )
    if len(found) == 1:
        return found[0], None
    if not found:
        return None, f"no active agent {value!r} (give an agent's email or name, or 'me')"
    return None, f"{value!r} names {len(found)} agents; give the email address"
