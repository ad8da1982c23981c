"""The notifications panel and the inbox of messages that failed or were quarantined."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy import select, update
from starlette.responses import RedirectResponse, Response

from postdesk.admin.deps import CONFIG_ROLES, DbId, require_role, session_agent, state
from postdesk.admin.pages import page
from postdesk.admin.security import csrf_protect
from postdesk.store.enums import InboxState
from postdesk.store.models import Agent, InboxItem, Notification

router = APIRouter(prefix="/admin", dependencies=[Depends(csrf_protect)])
TROUBLE = (InboxState.FAILED, InboxState.QUARANTINED)


@router.get("/notifications")
def notifications(request: Request, me: Agent = Depends(session_agent)) -> Response:
    with state(request).core.db.sessions() as s:
        rows = list(
            s.scalars(
                select(Notification)
                .where(Notification.agent_id == me.id)
                .order_by(Notification.created_at.desc(), Notification.id.desc())
                .limit(100)
            )
        )
    return page(request, "notifications.html", {"notifications": rows}, me=me)


@router.post("/notifications/read")
def mark_read(
    request: Request,
    notification_id: int | None = Form(None, ge=1, le=2**62),
    me: Agent = Depends(session_agent),
) -> Response:
    """Mark one notification read, or all of mine when none is named."""
    st = state(request)
    with st.core.db.transaction() as s:
        q = update(Notification).where(
            Notification.agent_id == me.id, Notification.read_at.is_(None)
        )
        if notification_id is not None:
            q = q.where(Notification.id == notification_id)
        s.execute(q.values(read_at=st.core.clock()))
    return RedirectResponse("/admin/notifications", status_code=303)


@router.get("/inbox")
def inbox(request: Request, me: Agent = Depends(require_role(*CONFIG_ROLES))) -> Response:
    with state(request).core.db.sessions() as s:
        rows = list(
            s.scalars(
                select(InboxItem)
                .where(InboxItem.state.in_([t.value for t in TROUBLE]))
                .order_by(InboxItem.id.desc())
                .limit(200)
            )
        )
    flash = request.session.pop("flash", None)
    return page(request, "inbox.html", {"rows": rows, "flash": flash}, me=me)


@router.post("/inbox/{inbox_id}/retry")
def retry(
    request: Request, inbox_id: DbId, me: Agent = Depends(require_role(*CONFIG_ROLES))
) -> Response:
    """What ``postdesk inbox retry`` does: process the stored bytes again."""
    st = state(request)
    result = st.core.pipeline.process(inbox_id)
    if result.state == "skipped":
        msg = f"#{inbox_id}: nothing to do (quarantined rows are not retried)"
    elif result.state == "failed":
        msg = f"#{inbox_id}: failed again: {result.reason}"
    else:
        st.wake_outbox()
        ticket = f" ticket #{result.ticket_id}" if result.ticket_id else ""
        msg = f"#{inbox_id}: {result.action}{ticket}"
    request.session["flash"] = msg
    return RedirectResponse("/admin/inbox", status_code=303)
