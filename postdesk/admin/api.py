"""The JSON API for integrations: tickets with their messages, replies, notes, changes, clients.

Every call needs ``Authorization: Bearer <token>`` (``postdesk user token EMAIL``); it acts as
that token's agent. Refusals of the workflow answer 422 with the reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from postdesk.admin import actions
from postdesk.admin.deps import api_agent, state
from postdesk.inbound.decode import strip_controls
from postdesk.store.enums import Priority, TicketType
from postdesk.store.models import Agent, ClientOrg, Ticket
from postdesk.store.tickets import thread_messages
from postdesk.store.views import VIEWS, Filters, list_view
from postdesk.store.workflow import WorkflowError

router = APIRouter(prefix="/api", tags=["api"])
MAX_ID = 2**62
TicketNo = Annotated[int, Path(ge=1, le=MAX_ID)]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class TicketOut(_Out):
    id: int
    subject: str
    type: str
    status: str
    priority: str
    requester: str | None
    client: str | None
    assignee: str | None
    tags: list[str]
    created_at: datetime
    updated_at: datetime


class AttachmentOut(_Out):
    id: int
    filename: str
    content_type: str
    size: int


class MessageOut(_Out):
    id: int
    direction: str
    visibility: str
    kind: str
    from_address: str
    subject: str
    text: str
    created_at: datetime
    attachments: list[AttachmentOut]


class TicketDetail(TicketOut):
    messages: list[MessageOut]


class TextIn(BaseModel):
    body: str = Field(min_length=1, max_length=actions.MAX_BODY)
    then_status: str | None = Field(None, max_length=20, description="status after a reply")


class ChangeIn(BaseModel):
    field: Literal["status", "priority", "type", "assignee"]
    value: str = Field(max_length=320)


class ClientOut(BaseModel):
    id: int
    name: str
    domains: list[str]
    csm: str | None


def _ticket(t: Ticket) -> TicketOut:
    return TicketOut(
        id=t.id,
        subject=t.subject,
        type=t.type,
        status=t.status,
        priority=t.priority,
        requester=t.requester.email if t.requester else None,
        client=t.org.name if t.org else None,
        assignee=t.assignee.email if t.assignee else None,
        tags=list(t.tags or []),
        created_at=t.created_at,
        updated_at=t.updated_at,
    )


def _message(m) -> MessageOut:  # type: ignore[no-untyped-def]
    return MessageOut(
        id=m.id,
        direction=m.direction,
        visibility=m.visibility,
        kind=m.kind,
        from_address=m.from_address,
        subject=m.subject,
        text=m.text_new or m.text_full,
        created_at=m.created_at,
        attachments=[AttachmentOut.model_validate(a) for a in m.attachments],
    )


@router.get("/tickets", response_model=list[TicketOut])
def list_tickets(
    request: Request,
    view: Literal[tuple(VIEWS)] = "all",  # type: ignore[valid-type]
    type: TicketType | None = Query(None),
    priority: Priority | None = Query(None),
    q: str | None = Query(None, max_length=200),
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=1_000_000),
    me: Agent = Depends(api_agent),
) -> list[TicketOut]:
    with state(request).core.db.sessions() as s:
        rows = list_view(
            s,
            view,
            agent_id=me.id,
            # PostgreSQL refuses NUL in a parameter: a stray control byte must not be a 500.
            filters=Filters(type=type, priority=priority, text=strip_controls(q) if q else None),
            limit=limit,
            offset=offset,
        )
        return [_ticket(t) for t in rows]


@router.get("/tickets/{number}", response_model=TicketDetail)
def get_ticket(request: Request, number: TicketNo, me: Agent = Depends(api_agent)) -> TicketDetail:
    with state(request).core.db.sessions() as s:
        t = s.get(Ticket, number)
        if t is None:
            raise HTTPException(404, "no such ticket")
        messages = [_message(m) for m in thread_messages(s, number)]
        return TicketDetail(**_ticket(t).model_dump(), messages=messages)


def _run(request: Request, number: int, do) -> MessageOut | TicketOut:  # type: ignore[no-untyped-def]
    st = state(request)
    try:
        with st.core.db.transaction() as s:
            t = s.get(Ticket, number)
            if t is None:
                raise HTTPException(404, "no such ticket")
            result = do(s, t, st.core.clock())
            out = (
                _message(result)
                if result is not None and hasattr(result, "direction")
                else _ticket(t)
            )
    except WorkflowError as exc:
        raise HTTPException(422, str(exc)) from exc
    st.wake_outbox()
    return out


@router.post("/tickets/{number}/reply", response_model=MessageOut, status_code=201)
def post_reply(request: Request, number: TicketNo, data: TextIn, me: Agent = Depends(api_agent)):  # type: ignore[no-untyped-def]
    core = state(request).core
    return _run(
        request,
        number,
        lambda s, t, now: actions.reply(
            s, core, me, t, data.body, now=now, then_status=data.then_status
        ),
    )


@router.post("/tickets/{number}/notes", response_model=MessageOut, status_code=201)
def post_note(request: Request, number: TicketNo, data: TextIn, me: Agent = Depends(api_agent)):  # type: ignore[no-untyped-def]
    core = state(request).core
    return _run(request, number, lambda s, t, now: actions.note(s, core, me, t, data.body, now=now))


@router.post("/tickets/{number}/changes", response_model=TicketOut)
def post_change(request: Request, number: TicketNo, data: ChangeIn, me: Agent = Depends(api_agent)):  # type: ignore[no-untyped-def]
    core = state(request).core

    def do(s, t, now):  # type: ignore[no-untyped-def]
        actions.change(s, core, me, t, data.field, data.value, now=now)
        return None

    return _run(request, number, do)


@router.get("/clients", response_model=list[ClientOut])
def clients(request: Request, me: Agent = Depends(api_agent)) -> list[ClientOut]:
    with state(request).core.db.sessions() as s:
        orgs = list(s.scalars(select(ClientOrg).order_by(ClientOrg.name)))
        return [
            ClientOut(
                id=o.id,
                name=o.name,
                domains=[d.domain for d in o.domains],
                csm=o.csm.email if o.csm else None,
            )
            for o in orgs
        ]
