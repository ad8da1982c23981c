"""Who is asking: the signed-in agent (session cookie) or an integration (bearer token)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request
from sqlalchemy import select

from postdesk.admin.passwords import token_hash
from postdesk.admin.state import AdminState
from postdesk.store.admin_models import ApiToken
from postdesk.store.models import Agent

ROLES = ("admin", "manager", "agent")
# A row id in a URL: beyond BIGINT PostgreSQL would raise (a 500); this answers 422 instead.
DbId = Annotated[int, Path(ge=1, le=2**62)]
CONFIG_ROLES = ("admin", "manager")


class LoginRequired(Exception):
    """Raised for a browser without a session; answered with a redirect to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def state(request: Request) -> AdminState:
    return request.app.state.admin


def session_agent(request: Request) -> Agent:
    """The signed-in agent; the session names an agent id and the password it signed in with."""
    uid = request.session.get("uid")
    st = state(request)
    agent = None
    if isinstance(uid, int):
        with st.core.db.sessions() as s:
            agent = s.get(Agent, uid)
    # A changed password or a deactivated agent ends every session at once.
    if (
        agent is None
        or not agent.active
        or request.session.get("pw") != (agent.password_hash or "")[-16:]
    ):
        request.session.pop("uid", None)
        raise LoginRequired(str(request.url.path))
    return agent


def require_role(*roles: str) -> Callable[..., Agent]:
    def check(agent: Agent = Depends(session_agent)) -> Agent:
        if agent.role not in roles:
            raise HTTPException(403, "your role may not open this page")
        return agent

    return check


def api_agent(request: Request) -> Agent:
    """The agent an API bearer token acts as; 401 without a valid token."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "a bearer token is required", {"WWW-Authenticate": "Bearer"})
    st = state(request)
    with st.core.db.transaction() as s:
        row = s.scalar(
            select(ApiToken).where(
                ApiToken.token_hash == token_hash(token.strip()), ApiToken.revoked_at.is_(None)
            )
        )
        agent = s.get(Agent, row.agent_id) if row is not None else None
        if row is None or agent is None or not agent.active:
            raise HTTPException(401, "invalid token", {"WWW-Authenticate": "Bearer"})
        row.last_used_at = st.core.clock()
    return agent
