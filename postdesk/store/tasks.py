"""Linked and follow-up tasks of a ticket: add, change state, remove — each with an audit entry.

A task with a URL is a link to a task in another tool (its state is whatever that tool calls
it); without one it is an internal follow-up, open or done, optionally for an agent by a date.
Refusals raise ``WorkflowError`` with a reason the admin, the API and the CLI show as is.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from postdesk.store.audit_log import audit
from postdesk.store.models import Agent, Ticket
from postdesk.store.task_models import TicketTask
from postdesk.store.workflow import WorkflowError

INTERNAL_STATES = ("open", "done")
MAX_TITLE = 200
MAX_URL = 2000
_UNSAFE = re.compile(r"[\x00-\x20\x7f<>\"'`\\]")


def check_url(value: str) -> str:
    """An absolute http(s) URL, or ``WorkflowError``: ``javascript:``, ``data:`` and relative
    links would run or resolve inside the admin."""
    url = value.strip()
    if not url or len(url) > MAX_URL:
        raise WorkflowError(f"a task link is 1 to {MAX_URL} characters")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise WorkflowError("a task link must be an http:// or https:// address")
    if _UNSAFE.search(url):
        raise WorkflowError("a task link may not contain spaces, quotes or angle brackets")
    return url


def check_title(value: str) -> str:
    title = " ".join(value.split())
    if not title or len(title) > MAX_TITLE:
        raise WorkflowError(f"a task title is 1 to {MAX_TITLE} characters")
    return title


def check_state(task_kind: str, value: str) -> str:
    state = " ".join(value.split()).lower()
    if task_kind == "internal" and state not in INTERNAL_STATES:
        raise WorkflowError("a follow-up task is open or done")
    if not state or len(state) > 40:
        raise WorkflowError("a task state is 1 to 40 characters")
    return state


def add_task(
    session: Session,
    ticket: Ticket,
    *,
    title: str,
    actor: str,
    now: datetime,
    url: str | None = None,
    state: str = "open",
    assignee: Agent | None = None,
    due_on: date | None = None,
) -> TicketTask:
    kind = "external" if url else "internal"
    task = TicketTask(
        ticket_id=ticket.id,
        kind=kind,
        title=check_title(title),
        url=check_url(url) if url else None,
        state=check_state(kind, state),
        assignee_id=assignee.id if assignee is not None else None,
        due_on=due_on,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(task)
    session.flush()
    parts = [task.url or "follow-up"]
    if assignee is not None:
        parts.append(f"for {assignee.email}")
    if due_on is not None:
        parts.append(f"due {due_on.isoformat()}")
    audit(
        session,
        ticket.id,
        actor,
        "task_added",
        field=f"task:{task.id}",
        new=task.title,
        detail=" ".join(parts),
        at=now,
    )
    return task


def set_task_state(
    session: Session, task: TicketTask, state: str, *, actor: str, now: datetime
) -> bool:
    """Change the state; False when it already was."""
    new = check_state(task.kind, state)
    if new == task.state:
        return False
    old, task.state, task.updated_at = task.state, new, now
    audit(
        session,
        task.ticket_id,
        actor,
        "task_state",
        field=f"task:{task.id}",
        old=old,
        new=new,
        detail=task.title,
        at=now,
    )
    return True


def remove_task(session: Session, task: TicketTask, *, actor: str, now: datetime) -> None:
    audit(
        session,
        task.ticket_id,
        actor,
        "task_removed",
        field=f"task:{task.id}",
        old=task.title,
        detail=task.url or "follow-up",
        at=now,
    )
    session.delete(task)


def ticket_tasks(session: Session, ticket_id: int) -> list[TicketTask]:
    return list(
        session.scalars(
            select(TicketTask).where(TicketTask.ticket_id == ticket_id).order_by(TicketTask.id)
        )
    )


def task_of(session: Session, task_id: int, ticket_id: int | None = None) -> TicketTask:
    task = session.get(TicketTask, task_id)
    if task is None or (ticket_id is not None and task.ticket_id != ticket_id):
        raise LookupError(f"no task {task_id}" + (f" on ticket {ticket_id}" if ticket_id else ""))
    return task


def parse_due(value: str | None) -> date | None:
    if not value or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise WorkflowError("a due date is written YYYY-MM-DD") from None
