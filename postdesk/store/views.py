"""The ticket views support teams work from, as queries the CLI and the admin share.

- all: every ticket;
- mine: active tickets assigned to me;
- open: waiting for an agent (new or open);
- waiting: waiting for the client (pending);
- other_open: active tickets assigned to someone else;
- on_hold: on hold;
- closed: resolved or closed.
Escalations are internal tickets and appear in the views like any other (agents only).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from postdesk.store.enums import Status
from postdesk.store.models import Ticket
from postdesk.store.workflow import ACTIVE, DONE, WAITING_FOR_AGENT

VIEWS: dict[str, str] = {
    "all": "All",
    "mine": "Mine",
    "open": "Open",
    "waiting": "Waiting for client",
    "other_open": "Other open",
    "on_hold": "On-hold",
    "closed": "Closed",
}


@dataclass(frozen=True, slots=True)
class Filters:
    """Narrow a view: by type, priority, client organisation, assignee or a text in the subject."""

    type: str | None = None
    priority: str | None = None
    org_id: int | None = None
    assignee_id: int | None = None
    text: str | None = None


def view_query(name: str, agent_id: int | None = None, filters: Filters | None = None) -> Select:
    """The tickets of view ``name`` for agent ``agent_id`` (needed by mine and other_open)."""
    if name not in VIEWS:
        raise ValueError(f"unknown view {name!r} (one of: {', '.join(VIEWS)})")
    q = select(Ticket)
    if name == "mine":
        q = q.where(Ticket.assignee_id == agent_id, Ticket.status.in_(_values(ACTIVE)))
    elif name == "open":
        q = q.where(Ticket.status.in_(_values(WAITING_FOR_AGENT)))
    elif name == "waiting":
        q = q.where(Ticket.status == Status.PENDING)
    elif name == "other_open":
        q = q.where(Ticket.status.in_(_values(ACTIVE)), Ticket.assignee_id.is_not(None))
        if agent_id is not None:
            q = q.where(Ticket.assignee_id != agent_id)
    elif name == "on_hold":
        q = q.where(Ticket.status == Status.ON_HOLD)
    elif name == "closed":
        q = q.where(Ticket.status.in_(_values(DONE)))
    f = filters or Filters()
    if f.type:
        q = q.where(Ticket.type == f.type)
    if f.priority:
        q = q.where(Ticket.priority == f.priority)
    if f.org_id is not None:
        q = q.where(Ticket.org_id == f.org_id)
    if f.assignee_id is not None:
        q = q.where(Ticket.assignee_id == f.assignee_id)
    if f.text:
        q = q.where(Ticket.subject.ilike(f"%{_like(f.text)}%", escape="\\"))
    return q


# Newest activity first. Migration 0012's indexes serve it: (status, updated_at, id) for
# one-status views, (assignee_id, status, updated_at, id) for an agent's, and the covering
# (updated_at, id, status, assignee_id) for the others.
ORDER = (Ticket.updated_at.desc(), Ticket.id.desc())


def list_view(
    session: Session,
    name: str,
    *,
    agent_id: int | None = None,
    filters: Filters | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Ticket]:
    """One page of a view, most recently updated first.

    The page's ids are picked first, then only their tickets are loaded: a deep page skips
    ``offset`` entries of an index instead of ``offset`` joined ticket rows."""
    ids = (
        view_query(name, agent_id, filters)
        .with_only_columns(Ticket.id)
        .order_by(*ORDER)
        .limit(limit)
        .offset(offset)
    )
    q = select(Ticket).where(Ticket.id.in_(ids.scalar_subquery())).order_by(*ORDER)
    return list(session.scalars(q))


def count_view(
    session: Session, name: str, *, agent_id: int | None = None, filters: Filters | None = None
) -> int:
    q = view_query(name, agent_id, filters).with_only_columns(func.count(Ticket.id))
    return int(session.scalar(q.order_by(None)) or 0)


def view_counts(
    session: Session, *, agent_id: int | None = None, filters: Filters | None = None
) -> dict[str, int]:
    """Every view's count in one grouped query (the ticket list shows all seven at once).

    Grouped by (assignee_id, status), the columns of the ix_tickets_assignee_status_updated
    index: both databases count from the index alone, in its order, without a sort."""
    q = (
        view_query("all", agent_id, filters)
        .with_only_columns(Ticket.assignee_id, Ticket.status, func.count())
        .group_by(Ticket.assignee_id, Ticket.status)
        .order_by(None)
    )
    return counts_from_groups(
        (status, _who(assignee, agent_id), int(n)) for assignee, status, n in session.execute(q)
    )


def _who(assignee_id: int | None, agent_id: int | None) -> str:
    if assignee_id is None:
        return "none"
    return "me" if assignee_id == agent_id else "other"


def counts_from_groups(groups: Iterable[tuple[str, str, int]]) -> dict[str, int]:
    """Each view's count from (status, assignee is "me"/"other"/"none", count) groups: the
    same conditions as ``view_query`` (an agent of None is nobody, so "me" never occurs)."""
    tally: Counter[str] = Counter()
    active, waiting, done = _values(ACTIVE), _values(WAITING_FOR_AGENT), _values(DONE)
    for status, who, n in groups:
        tally["all"] += n
        tally["mine"] += n if status in active and who == "me" else 0
        tally["open"] += n if status in waiting else 0
        tally["waiting"] += n if status == Status.PENDING else 0
        tally["other_open"] += n if status in active and who == "other" else 0
        tally["on_hold"] += n if status == Status.ON_HOLD else 0
        tally["closed"] += n if status in done else 0
    return {name: tally[name] for name in VIEWS}


def _values(statuses: Sequence[Status] | frozenset[Status]) -> list[str]:
    return sorted(s.value for s in statuses)


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
