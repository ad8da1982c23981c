"""API tokens: list, create (the token is shown once), revoke."""

from __future__ import annotations

from fastapi import Depends, Form, HTTPException, Request
from sqlalchemy import select
from starlette.responses import RedirectResponse, Response

from postdesk.admin.deps import DbId, state
from postdesk.admin.passwords import new_token, token_hash
from postdesk.admin.runtime.common import config_router, configurator, render
from postdesk.store.admin_models import ApiToken
from postdesk.store.models import Agent

router = config_router()


def _page(
    request: Request,
    me: Agent,
    *,
    created: str | None = None,
    error: str | None = None,
    code: int = 200,
) -> Response:
    with state(request).core.db.sessions() as s:
        rows = list(
            s.execute(
                select(ApiToken, Agent.email)
                .join(Agent, Agent.id == ApiToken.agent_id)
                .order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc())
            ).all()
        )
        agents = list(s.scalars(select(Agent).where(Agent.active.is_(True)).order_by(Agent.email)))
    ctx = {"tokens": rows, "agents": agents, "created": created}
    return render(request, me, "cfg_tokens.html", ctx, error=error, code=code)


@router.get("/tokens")
def tokens(request: Request, me: Agent = Depends(configurator)) -> Response:
    return _page(request, me)


@router.post("/tokens")
def create_token(
    request: Request,
    agent: str = Form("", max_length=320),
    name: str = Form("", max_length=100),
    me: Agent = Depends(configurator),
) -> Response:
    token = new_token()
    with state(request).core.db.transaction() as s:
        owner = s.scalar(select(Agent).where(Agent.email == agent.strip().lower()))
        if owner is not None and owner.role == "admin" and me.role != "admin":
            raise HTTPException(403, "only an admin makes a token that acts as an admin")
        if owner is not None and owner.active:
            s.add(ApiToken(agent_id=owner.id, token_hash=token_hash(token), name=name.strip()))
    if owner is None or not owner.active:
        return _page(request, me, error=f"no active agent {agent.strip()!r}", code=422)
    # Rendered, not flashed: the session cookie is signed, not encrypted.
    return _page(request, me, created=token, code=201)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: DbId, me: Agent = Depends(configurator)) -> Response:
    core = state(request).core
    with core.db.transaction() as s:
        row = s.get(ApiToken, token_id)
        if row is None:
            raise HTTPException(404, "no such token")
        if row.revoked_at is None:
            row.revoked_at = core.clock()
        name = row.name or f"#{row.id}"
    request.session["flash"] = f"revoked token {name}; the API refuses it from now on"
    return RedirectResponse("/admin/config/tokens", status_code=303)
