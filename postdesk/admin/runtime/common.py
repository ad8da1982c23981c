"""What every runtime configuration page shares: its router, its role check, its rendering."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from postdesk.admin.deps import CONFIG_ROLES, require_role
from postdesk.admin.pages import page
from postdesk.admin.security import csrf_protect
from postdesk.store.models import Agent

configurator = require_role(*CONFIG_ROLES)  # agents get 403 on every page here


def config_router() -> APIRouter:
    return APIRouter(prefix="/admin/config", dependencies=[Depends(csrf_protect)])


def render(
    request: Request,
    me: Agent,
    template: str,
    context: dict[str, Any],
    *,
    error: str | None = None,
    code: int = 200,
) -> Response:
    """A config page with the sub-navigation, the flash of the last action and any form error."""
    base = {"error": error, "flash": request.session.pop("flash", None), "section": template}
    return page(request, template, base | context, me=me, status_code=code)
