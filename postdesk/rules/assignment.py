"""Who gets a ticket: the client's CSM (the default), round robin or least open in a team.

The choices are pure functions over candidate lists; the store I/O (candidates, open counts,
the round-robin cursor locked per team) sits below them. Agents who are away or inactive
are never chosen. Manual assignment always wins: ``changes.assign`` refuses to let a rule
replace it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from postdesk.store.models import Agent, Ticket
from postdesk.store.rules_models import AssignmentCursor
from postdesk.store.workflow import ACTIVE


def available(agent: Agent | None) -> bool:
    return agent is not None and agent.active and not agent.away


def choose_round_robin(candidate_ids: Sequence[int], last_id: int | None) -> int | None:
    """The next id after ``last_id`` in ascending order, wrapping around."""
    ids = sorted(candidate_ids)
    if not ids:
        return None
    if last_id is None:
        return ids[0]
    return next((i for i in ids if i > last_id), ids[0])


def choose_least_open(open_counts: Mapping[int, int]) -> int | None:
    """The agent with the fewest open tickets; ties go to the lowest id (stable)."""
    if not open_counts:
        return None
    return min(open_counts, key=lambda i: (open_counts[i], i))


def team_members(session: Session, team: str) -> list[Agent]:
    rows = session.scalars(
        select(Agent).where(Agent.team == team, Agent.active.is_(True), Agent.away.is_(False))
    )
    return sorted(rows, key=lambda a: a.id)


def pick_csm(ticket: Ticket) -> Agent | None:
    csm = ticket.org.csm if ticket.org is not None else None
    return csm if available(csm) else None


def pick_least_open(session: Session, team: str) -> Agent | None:
    members = team_members(session, team)
    if not members:
        return None
    counts = dict(
        session.execute(
            select(Ticket.assignee_id, func.count(Ticket.id))
            .where(
                Ticket.assignee_id.in_([a.id for a in members]),
                Ticket.status.in_(sorted(s.value for s in ACTIVE)),
            )
            .group_by(Ticket.assignee_id)
        ).all()
    )
    chosen = choose_least_open({a.id: int(counts.get(a.id, 0)) for a in members})
    return next(a for a in members if a.id == chosen)


def pick_round_robin(session: Session, team: str, now: datetime) -> Agent | None:
    """Advance the team's cursor under a row lock, so concurrent processes take turns."""
    members = team_members(session, team)
    if not members:
        return None
    cursor = _locked_cursor(session, team)
    chosen = choose_round_robin([a.id for a in members], cursor.last_agent_id)
    cursor.last_agent_id = chosen
    cursor.updated_at = now
    session.flush()
    return next(a for a in members if a.id == chosen)


def _locked_cursor(session: Session, team: str) -> AssignmentCursor:
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # Create the row if missing without racing another process, then lock it.
    session.execute(
        insert(AssignmentCursor).values(team=team, last_agent_id=None).on_conflict_do_nothing()
    )
    cursor = session.scalars(
        select(AssignmentCursor)
        .where(AssignmentCursor.team == team)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return cursor


def pick(
    session: Session,
    ticket: Ticket,
    strategy: str,
    *,
    team: str | None,
    now: datetime,
) -> Agent | None:
    if strategy == "csm":
        return pick_csm(ticket)
    if team is None:
        return None
    if strategy == "round_robin":
        return pick_round_robin(session, team, now)
    if strategy == "least_open":
        return pick_least_open(session, team)
    raise ValueError(f"unknown assignment strategy {strategy!r}")
