"""Ticket work in the browser: the views, one ticket, and the forms that change it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from sqlalchemy import select
from starlette.responses import RedirectResponse, Response

from postdesk.admin import actions
from postdesk.admin.deps import DbId, session_agent, state
from postdesk.admin.pages import page
from postdesk.admin.security import csrf_protect
from postdesk.inbound.decode import strip_controls
from postdesk.store.documents import documents_of
from postdesk.store.enums import Priority, Status, TicketType
from postdesk.store.models import Agent, AuditEntry, Ticket
from postdesk.store.tickets import thread_messages
from postdesk.store.views import VIEWS, Filters, list_view, view_counts
from postdesk.store.workflow import WorkflowError, status_label

router = APIRouter(prefix="/admin", dependencies=[Depends(csrf_protect)])
PAGE_SIZE = 25


@router.get("/")
def home() -> Response:
    return RedirectResponse("/admin/tickets", status_code=303)


@router.get("/tickets")
def ticket_list(
    request: Request,
    view: str = "open",
    type: str = "",
    priority: str = "",
    q: str = "",
    page_no: int = 1,
    me: Agent = Depends(session_agent),
) -> Response:
    if view not in VIEWS:
        raise HTTPException(404, "no such view")
    page_no = max(1, min(page_no, 100_000))
    filters = Filters(
        type=type if type in set(TicketType) else None,
        priority=priority if priority in set(Priority) else None,
        text=strip_controls(q).strip()[:200] or None,
    )
    with state(request).core.db.sessions() as s:
        counts = view_counts(s, agent_id=me.id, filters=filters)
        rows = list_view(
            s,
            view,
            agent_id=me.id,
            filters=filters,
            limit=PAGE_SIZE,
            offset=(page_no - 1) * PAGE_SIZE,
        )
    total = counts[view]
    return page(
        request,
        "tickets.html",
        {
            "views": VIEWS,
            "view": view,
            "counts": counts,
            "tickets": rows,
            "filters": {"type": type, "priority": priority, "q": q},
            "types": [t.value for t in TicketType],
            "priorities": [p.value for p in Priority],
            "page_no": page_no,
            "pages": max(1, -(-total // PAGE_SIZE)),
            "label": status_label,
        },
        me=me,
    )


def _ticket_context(request: Request, number: int) -> dict[str, Any]:
    with state(request).core.db.sessions() as s:
        ticket = s.get(Ticket, number)
        if ticket is None:
            raise HTTPException(404, "no such ticket")
        messages = thread_messages(s, number)
        for m in messages:
            _ = m.attachments  # loaded before the session closes
        history = list(
            s.scalars(
                select(AuditEntry)
                .where(AuditEntry.ticket_id == number)
                .order_by(AuditEntry.at, AuditEntry.id)
            )
        )
        agents = list(s.scalars(select(Agent).where(Agent.active.is_(True)).order_by(Agent.email)))
    return {
        "ticket": ticket,
        "public": [m for m in messages if m.visibility == "public"],
        "internal": [m for m in messages if m.visibility != "public"],
        "history": history,
        "documents": documents_of(state(request).core.db, number),
        "agents": agents,
        "statuses": [st.value for st in Status],
        "types": [t.value for t in TicketType],
        "priorities": [p.value for p in Priority],
        "label": status_label(ticket.type, ticket.status),
        "error": None,
        "draft": "",
    }


@router.get("/tickets/{number}")
def ticket_page(request: Request, number: DbId, me: Agent = Depends(session_agent)) -> Response:
    ctx = _ticket_context(request, number)
    ctx["flash"] = request.session.pop("flash", None)
    return page(request, "ticket.html", ctx, me=me)


def act(  # type: ignore[no-untyped-def]
    request: Request,
    number: int,
    me: Agent,
    what: str,
    draft: str,
    do,
    *,
    error_key: str = "error",
    anchor: str = "",
    missing: type[Exception] | tuple[type[Exception], ...] = (),
) -> Response:
    """Run one action in a transaction; a refusal re-renders the page with the reason (under
    ``error_key``, shown by the section that made it); ``missing`` errors are a 404."""
    st = state(request)
    try:
        with st.core.db.transaction() as s:
            ticket = s.get(Ticket, number)
            if ticket is None:
                raise HTTPException(404, "no such ticket")
            do(s, ticket, st.core.clock())
    except missing as exc:
        raise HTTPException(404, str(exc)) from exc
    except WorkflowError as exc:
        ctx = _ticket_context(request, number) | {error_key: f"{what}: {exc}", "draft": draft}
        ctx["flash"] = None
        return page(request, "ticket.html", ctx, me=me, status_code=422)
    st.wake_outbox()
    request.session["flash"] = what
    return RedirectResponse(f"/admin/tickets/{number}{anchor}", status_code=303)


@router.post("/tickets/{number}/reply")
def post_reply(
    request: Request,
    number: DbId,
    body: str = Form(""),
    then_status: str = Form(""),
    me: Agent = Depends(session_agent),
) -> Response:
    core = state(request).core
    return act(
        request,
        number,
        me,
        "Reply sent",
        body,
        lambda s, t, now: actions.reply(
            s, core, me, t, body, now=now, then_status=then_status or None
        ),
    )


@router.post("/tickets/{number}/note")
def post_note(
    request: Request, number: DbId, body: str = Form(""), me: Agent = Depends(session_agent)
) -> Response:
    core = state(request).core
    return act(
        request,
        number,
        me,
        "Note added",
        body,
        lambda s, t, now: actions.note(s, core, me, t, body, now=now),
    )


@router.post("/tickets/{number}/change")
def post_change(
    request: Request,
    number: DbId,
    field: str = Form(...),
    value: str = Form(""),
    me: Agent = Depends(session_agent),
) -> Response:
    core = state(request).core
    return act(
        request,
        number,
        me,
        f"Changed {field}",
        "",
        lambda s, t, now: actions.change(s, core, me, t, field, value, now=now),
    )
