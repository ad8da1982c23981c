"""Who a notification names (assignee, csm, managers, team, on_call, ...) -> agents."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from postdesk.rules.schema import Level, Policy
from postdesk.store.direct import ObjectQuery, flush_pending
from postdesk.store.models import Agent, Ticket
from postdesk.store.session_cache import is_remembered, remembered


def _by_email(session: Session, email: str | None) -> Agent | None:
    if not email or "@" not in email:
        return None
    return session.scalar(select(Agent).where(Agent.email == email.lower()))


def _team(session: Session, team: str | None) -> list[Agent]:
    if not team:
        return []
    return list(
        session.scalars(
            select(Agent)
            .where(Agent.team == team, Agent.active.is_(True), Agent.away.is_(False))
            .order_by(Agent.id)
        )
    )


_MANAGERS = ObjectQuery(Agent, Agent.role == "manager", Agent.active.is_(True), order_by=[Agent.id])


def ask_managers(session: Session) -> None:
    """Send ``managers``' read ahead (``Prepared.ask``) unless this transaction has them."""
    if not is_remembered(session, "managers"):
        _MANAGERS.prepared.ask(session, {})


def managers(session: Session) -> list[Agent]:
    """The active managers (read once per transaction: every new ticket asks)."""
    flush_pending(session, Agent)
    return list(remembered(session, "managers", (Agent,), lambda: _MANAGERS.all(session, {})))


def ticket_team(ticket: Ticket, policy: Policy) -> str | None:
    """The team a ticket belongs to: its assignee's, else its CSM's, else the default team."""
    for agent in (ticket.assignee, ticket.org.csm if ticket.org else None):
        if agent is not None and agent.team:
            return agent.team
    return policy.default_team


def level_agents(session: Session, level: Level) -> list[Agent]:
    return [*_team(session, level.team), *(managers(session) if level.managers else [])]


def resolve(
    session: Session,
    ticket: Ticket,
    who: Sequence[str],
    policy: Policy,
    *,
    on_call: str | None = None,
) -> list[Agent]:
    """The agents ``who`` names for this ticket, each once, in order."""
    csm = ticket.org.csm if ticket.org is not None else None
    found: list[Agent | None] = []
    for name in who:
        if name == "assignee":
            found.append(ticket.assignee)
        elif name == "assigner":
            found.append(_by_email(session, ticket.assigned_by))
        elif name == "assignee_or_csm":
            found.append(ticket.assignee or csm)
        elif name == "csm":
            found.append(csm)
        elif name == "managers":
            found.extend(managers(session))
        elif name == "team":
            found.extend(_team(session, ticket_team(ticket, policy)))
        elif name == "on_call":
            found.append(_by_email(session, policy.on_call or on_call))
        elif name == "escalation_team":
            levels = policy.escalation
            level = ticket.escalation_level or 0
            if levels and level > 0:
                found.extend(level_agents(session, levels[min(level, len(levels)) - 1]))
        else:
            found.append(_by_email(session, name))
    unique: dict[int, Agent] = {}
    for agent in found:
        if agent is not None and agent.active:
            unique.setdefault(agent.id, agent)
    return list(unique.values())
