"""The ticket page's work section: linked tasks, the time estimate and the time spent.

Its own router and template partial (``_ticket_work.html``, included by ``ticket.html``);
``install`` registers both on the admin app. Refusals (a ``javascript:`` link, minutes that
are not a number) re-render the ticket page with the reason next to the form, status 422.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from postdesk.admin import actions, api_work
from postdesk.admin.deps import DbId, session_agent, state
from postdesk.admin.security import csrf_protect
from postdesk.admin.web_tickets import act
from postdesk.rules.estimate import parse_minutes
from postdesk.store.enums import Status
from postdesk.store.estimates import estimate_of, record_actual, set_estimate
from postdesk.store.models import Agent, Ticket
from postdesk.store.tasks import (
    add_task,
    parse_due,
    remove_task,
    set_task_state,
    task_of,
    ticket_tasks,
)
from postdesk.store.workflow import WorkflowError

router = APIRouter(prefix="/admin", dependencies=[Depends(csrf_protect)])
Do = Callable[[Session, Ticket, datetime], None]


def install(app: FastAPI) -> None:
    """Routes of the work section and its API, and the template function the partial calls."""
    app.include_router(router)
    app.include_router(api_work.router)
    app.state.admin.templates.env.globals["ticket_work"] = work_context


def work_context(request: Request, ticket_id: int) -> dict[str, Any]:
    with state(request).core.db.sessions() as s:
        tasks = ticket_tasks(s, ticket_id)
        estimate = estimate_of(s, ticket_id)
        for t in tasks:
            _ = t.assignee  # loaded before the session closes
    return {"tasks": tasks, "estimate": estimate}


def _act(request: Request, number: int, me: Agent, what: str, do: Do) -> Response:
    """The ticket page's action, with errors shown in the work section and a missing task 404."""
    return act(
        request,
        number,
        me,
        what,
        "",
        do,
        error_key="work_error",
        anchor="#work",
        missing=LookupError,
    )


@router.post("/tickets/{number}/tasks")
def post_task(
    request: Request,
    number: DbId,
    title: str = Form(""),
    url: str = Form(""),
    assignee: str = Form(""),
    due: str = Form(""),
    me: Agent = Depends(session_agent),
) -> Response:
    def do(s: Session, t: Ticket, now: datetime) -> None:
        agent = None
        if assignee.strip():
            agent = s.scalar(select(Agent).where(Agent.email == assignee.strip().lower()))
            if agent is None:
                raise WorkflowError(f"no agent {assignee.strip()}")
        add_task(
            s,
            t,
            title=title,
            url=url.strip() or None,
            assignee=agent,
            due_on=parse_due(due),
            actor=me.email,
            now=now,
        )

    return _act(request, number, me, "Task added", do)


@router.post("/tickets/{number}/tasks/{task_id}/state")
def post_task_state(
    request: Request,
    number: DbId,
    task_id: DbId,
    value: str = Form("done"),
    me: Agent = Depends(session_agent),
) -> Response:
    def do(s: Session, t: Ticket, now: datetime) -> None:
        set_task_state(s, task_of(s, task_id, t.id), value, actor=me.email, now=now)

    return _act(request, number, me, "Task updated", do)


@router.post("/tickets/{number}/tasks/{task_id}/remove")
def post_task_remove(
    request: Request, number: DbId, task_id: DbId, me: Agent = Depends(session_agent)
) -> Response:
    def do(s: Session, t: Ticket, now: datetime) -> None:
        remove_task(s, task_of(s, task_id, t.id), actor=me.email, now=now)

    return _act(request, number, me, "Task removed", do)


@router.post("/tickets/{number}/estimate")
def post_estimate(
    request: Request,
    number: DbId,
    minutes: str = Form(""),
    accept: str = Form(""),
    me: Agent = Depends(session_agent),
) -> Response:
    def do(s: Session, t: Ticket, now: datetime) -> None:
        value: int | str = minutes
        if accept:
            row = estimate_of(s, t.id)
            if row is None or row.suggested_minutes is None:
                raise WorkflowError("there is no suggestion to accept")
            value = row.suggested_minutes
        set_estimate(s, t, value, actor=me.email, now=now)

    return _act(request, number, me, "Estimate saved", do)


@router.post("/tickets/{number}/time")
def post_time(
    request: Request,
    number: DbId,
    minutes: str = Form(""),
    resolve: str = Form(""),
    me: Agent = Depends(session_agent),
) -> Response:
    """Time spent; with ``resolve`` the ticket is resolved too and the minutes are optional."""
    core = state(request).core

    def do(s: Session, t: Ticket, now: datetime) -> None:
        if minutes.strip() or not resolve:
            record_actual(s, t, parse_minutes(minutes), actor=me.email, now=now)
        if resolve:
            actions.change(s, core, me, t, "status", Status.RESOLVED, now=now)

    return _act(request, number, me, "Resolved" if resolve else "Time recorded", do)
