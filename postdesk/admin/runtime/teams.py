"""Teams (from the agents' ``team`` field) and the escalation hierarchy, read-only."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import Depends, Form, HTTPException, Request
from sqlalchemy import select
from starlette.responses import RedirectResponse, Response

from postdesk.admin.deps import DbId, state
from postdesk.admin.runtime.common import config_router, configurator, render
from postdesk.store.models import Agent

router = config_router()
NO_TEAM = "(no team)"


def teams_of(agents: Sequence[Agent]) -> dict[str, list[Agent]]:
    """Team name -> its members, teams sorted, agents without a team last."""
    teams: dict[str, list[Agent]] = {}
    for a in agents:
        teams.setdefault(a.team or NO_TEAM, []).append(a)
    return dict(sorted(teams.items(), key=lambda kv: (kv[0] == NO_TEAM, kv[0].lower())))


@router.get("/teams")
def teams(request: Request, me: Agent = Depends(configurator)) -> Response:
    core = state(request).core
    with core.db.sessions() as s:
        agents = list(s.scalars(select(Agent).order_by(Agent.email)))
    ctx = {
        "teams": teams_of(agents),
        "agents": agents,
        "hierarchy": list(core.rules_config.settings.escalation),
        "rules_file": core.settings.rules_file,
    }
    return render(request, me, "cfg_teams.html", ctx)


@router.post("/teams/agents/{agent_id}")
def set_team(
    request: Request,
    agent_id: DbId,
    team: str = Form("", max_length=100),
    me: Agent = Depends(configurator),
) -> Response:
    with state(request).core.db.transaction() as s:
        agent = s.get(Agent, agent_id)
        if agent is None:
            raise HTTPException(404, "no such agent")
        if agent.role == "admin" and me.role != "admin":
            raise HTTPException(403, "only an admin changes an admin")
        agent.team = team.strip() or None
        email, new = agent.email, agent.team
    request.session["flash"] = f"{email} is now in {new or 'no team'}"
    return RedirectResponse("/admin/config/teams", status_code=303)
