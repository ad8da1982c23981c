"""The JSON API for a ticket's tasks and time: ``/api/tickets/{id}/tasks``, ``/estimate``,
``/time``. Bearer-token auth as the rest of the API; refusals answer 422 with the reason."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from postdesk.admin import actions
from postdesk.admin.deps import api_agent, state
from postdesk.store.enums import Status
from postdesk.store.estimates import estimate_of, record_actual, set_estimate
from postdesk.store.models import Agent, Ticket
from postdesk.store.task_models import TicketEstimate, TicketTask
from postdesk.store.tasks import add_task, remove_task, set_task_state, task_of, ticket_tasks
from postdesk.store.workflow import WorkflowError

router = APIRouter(prefix="/api/tickets/{number}", tags=["api"])
Id = Annotated[int, Path(ge=1, le=2**62)]


class TaskIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    url: str | None = Field(None, max_length=2000, description="http(s) link; none: follow-up")
    state: str = Field("open", max_length=40)
    assignee: str | None = Field(None, max_length=320, description="an agent's email")
    due_on: date | None = None


class TaskState(BaseModel):
    state: str = Field(min_length=1, max_length=40)


class TaskOut(BaseModel):
    id: int
    kind: str
    title: str
    url: str | None
    state: str
    assignee: str | None
    due_on: date | None
    created_by: str
    created_at: datetime


class MinutesIn(BaseModel):
    minutes: int | None = Field(None, ge=1, le=10_000)
    accept: bool = Field(False, description="take the suggested minutes")


class TimeIn(BaseModel):
    minutes: int | None = Field(None, ge=1, le=10_000)
    resolve: bool = Field(False, description="also resolve the ticket")


class EstimateOut(BaseModel):
    ticket_id: int
    suggested_minutes: int | None = None
    confidence: str | None = None
    reason: str | None = None
    agent_minutes: int | None = None
    estimated_by: str | None = None
    actual_minutes: int | None = None


def _task(t: TicketTask) -> TaskOut:
    return TaskOut(
        id=t.id,
        kind=t.kind,
        title=t.title,
        url=t.url,
        state=t.state,
        assignee=t.assignee.email if t.assignee else None,
        due_on=t.due_on,
        created_by=t.created_by,
        created_at=t.created_at,
    )


def _estimate(ticket_id: int, row: TicketEstimate | None) -> EstimateOut:
    if row is None:
        return EstimateOut(ticket_id=ticket_id)
    return EstimateOut(
        ticket_id=ticket_id,
        suggested_minutes=row.suggested_minutes,
        confidence=row.confidence,
        reason=row.reason,
        agent_minutes=row.agent_minutes,
        estimated_by=row.estimated_by,
        actual_minutes=row.actual_minutes,
    )


def _run(request: Request, number: int, do: Callable[[Session, Ticket, datetime], Any]) -> Any:
    st = state(request)
    try:
        with st.core.db.transaction() as s:
            ticket = s.get(Ticket, number)
            if ticket is None:
                raise HTTPException(404, "no such ticket")
            result = do(s, ticket, st.core.clock())
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from exc
    except WorkflowError as exc:
        raise HTTPException(422, str(exc)) from exc
    st.wake_outbox()
    return result


@router.get("/tasks", response_model=list[TaskOut])
def list_tasks(request: Request, number: Id, me: Agent = Depends(api_agent)) -> list[TaskOut]:
    return _run(request, number, lambda s, t, now: [_task(x) for x in ticket_tasks(s, t.id)])  # type: ignore[no-any-return]


@router.post("/tasks", response_model=TaskOut, status_code=201)
def create_task(
    request: Request, number: Id, data: TaskIn, me: Agent = Depends(api_agent)
) -> TaskOut:
    def do(s: Session, t: Ticket, now: datetime) -> TaskOut:
        agent = None
        if data.assignee:
            agent = s.scalar(select(Agent).where(Agent.email == data.assignee.strip().lower()))
            if agent is None:
                raise WorkflowError(f"no agent {data.assignee}")
        task = add_task(
            s,
            t,
            title=data.title,
            url=data.url or None,
            state=data.state,
            assignee=agent,
            due_on=data.due_on,
            actor=me.email,
            now=now,
        )
        return _task(task)

    return _run(request, number, do)  # type: ignore[no-any-return]


@router.patch("/tasks/{task_id}", response_model=TaskOut)
def update_task(
    request: Request, number: Id, task_id: Id, data: TaskState, me: Agent = Depends(api_agent)
) -> TaskOut:
    def do(s: Session, t: Ticket, now: datetime) -> TaskOut:
        task = task_of(s, task_id, t.id)
        set_task_state(s, task, data.state, actor=me.email, now=now)
        return _task(task)

    return _run(request, number, do)  # type: ignore[no-any-return]


@router.delete("/tasks/{task_id}", status_code=204)
def delete_task(
    request: Request, number: Id, task_id: Id, me: Agent = Depends(api_agent)
) -> Response:
    _run(
        request,
        number,
        lambda s, t, now: remove_task(s, task_of(s, task_id, t.id), actor=me.email, now=now),
    )
    return Response(status_code=204)


@router.get("/estimate", response_model=EstimateOut)
def get_estimate(request: Request, number: Id, me: Agent = Depends(api_agent)) -> EstimateOut:
    return _run(request, number, lambda s, t, now: _estimate(t.id, estimate_of(s, t.id)))  # type: ignore[no-any-return]


@router.put("/estimate", response_model=EstimateOut)
def put_estimate(
    request: Request, number: Id, data: MinutesIn, me: Agent = Depends(api_agent)
) -> EstimateOut:
    def do(s: Session, t: Ticket, now: datetime) -> EstimateOut:
        minutes = data.minutes
        if data.accept:
            row = estimate_of(s, t.id)
            if row is None or row.suggested_minutes is None:
                raise WorkflowError("there is no suggestion to accept")
            minutes = row.suggested_minutes
        if minutes is None:
            raise WorkflowError("give minutes, or accept: true")
        return _estimate(t.id, set_estimate(s, t, minutes, actor=me.email, now=now))

    return _run(request, number, do)  # type: ignore[no-any-return]


@router.post("/time", response_model=EstimateOut)
def post_time(
    request: Request, number: Id, data: TimeIn, me: Agent = Depends(api_agent)
) -> EstimateOut:
    """Record the time spent; with ``resolve`` also resolve the ticket (minutes optional)."""
    core = state(request).core

    def do(s: Session, t: Ticket, now: datetime) -> EstimateOut:
        if data.minutes is None and not data.resolve:
            raise WorkflowError("give minutes, or resolve: true")
        if data.minutes is not None:
            record_actual(s, t, data.minutes, actor=me.email, now=now)
        if data.resolve:
            actions.change(s, core, me, t, "status", Status.RESOLVED, now=now)
        return _estimate(t.id, estimate_of(s, t.id))

    return _run(request, number, do)  # type: ignore[no-any-return]
