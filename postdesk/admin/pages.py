"""Rendering a page: every template gets the signed-in agent, the CSRF token and unread count."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy import func, select
from starlette.responses import HTMLResponse

from postdesk.admin.deps import CONFIG_ROLES, state
from postdesk.admin.security import csrf_token
from postdesk.store.models import Agent, Notification


def unread_count(request: Request, agent: Agent) -> int:
    with state(request).core.db.sessions() as s:
        return int(
            s.scalar(
                select(func.count(Notification.id)).where(
                    Notification.agent_id == agent.id, Notification.read_at.is_(None)
                )
            )
            or 0
        )


def page(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    me: Agent | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    base = {
        "request": request,
        "me": me,
        "csrf": csrf_token(request),
        "unread": unread_count(request, me) if me is not None else 0,
        "can_configure": me is not None and me.role in CONFIG_ROLES,
    }
    return state(request).templates.TemplateResponse(
        request, template, base | context, status_code=status_code
    )
