"""Configuration pages (managers and admins): agents, and client organisations with their CSM."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from postdesk.admin.deps import CONFIG_ROLES, ROLES, DbId, require_role, state
from postdesk.admin.pages import page
from postdesk.admin.security import csrf_protect
from postdesk.store.models import Agent, ClientDomain, ClientOrg

router = APIRouter(prefix="/admin/config", dependencies=[Depends(csrf_protect)])
configurator = require_role(*CONFIG_ROLES)


def _config_page(
    request: Request, me: Agent, error: str | None = None, code: int = 200
) -> Response:
    with state(request).core.db.sessions() as s:
        agents = list(s.scalars(select(Agent).order_by(Agent.email)))
        orgs = list(s.scalars(select(ClientOrg).order_by(ClientOrg.name)))
        for o in orgs:
            _ = o.domains
    return page(
        request,
        "config.html",
        {
            "agents": agents,
            "orgs": orgs,
            "roles": ROLES,
            "error": error,
            "flash": request.session.pop("flash", None),
        },
        me=me,
        status_code=code,
    )


@router.get("")
def config(request: Request, me: Agent = Depends(configurator)) -> Response:
    return _config_page(request, me)


@router.post("/agents")
def add_agent(
    request: Request,
    email: str = Form(..., max_length=320),
    name: str = Form("", max_length=200),
    role: str = Form("agent"),
    team: str = Form("", max_length=100),
    me: Agent = Depends(configurator),
) -> Response:
    email = email.strip().lower()
    if "@" not in email or role not in ROLES:
        return _config_page(request, me, "an agent needs an address and a known role", 422)
    if role == "admin" and me.role != "admin":
        raise HTTPException(403, "only an admin makes admins")
    with state(request).core.db.transaction() as s:
        agent = s.scalar(select(Agent).where(Agent.email == email))
        if agent is not None and agent.role == "admin" and me.role != "admin":
            raise HTTPException(403, "only an admin changes an admin")
        if agent is None:
            agent = Agent(email=email)
            s.add(agent)
        agent.name, agent.role, agent.team, agent.active = (
            name.strip(),
            role,
            team.strip() or None,
            True,
        )
    request.session["flash"] = f"saved {email} (sign-in needs `postdesk user add` for a password)"
    return RedirectResponse("/admin/config", status_code=303)


@router.post("/agents/{agent_id}/away")
def set_away(
    request: Request, agent_id: DbId, away: str = Form("0"), me: Agent = Depends(configurator)
) -> Response:
    with state(request).core.db.transaction() as s:
        agent = s.get(Agent, agent_id)
        if agent is None:
            raise HTTPException(404, "no such agent")
        agent.away = away == "1"
    return RedirectResponse("/admin/config", status_code=303)


@router.post("/orgs")
def save_org(
    request: Request,
    name: str = Form(..., max_length=200),
    domains: str = Form("", max_length=2000),
    csm: str = Form("", max_length=320),
    me: Agent = Depends(configurator),
) -> Response:
    names = sorted(
        {d.strip().lower().lstrip("@") for d in domains.replace(",", " ").split() if d.strip()}
    )
    if not name.strip() or any("." not in d or "@" in d for d in names):
        return _config_page(
            request, me, "a client needs a name; domains look like example.com", 422
        )
    try:
        with state(request).core.db.transaction() as s:
            _save_org(s, name.strip(), names, csm.strip().lower())
    except _Invalid as exc:  # rolled back; the page is rendered outside the transaction
        return _config_page(request, me, str(exc), 422)
    request.session["flash"] = f"saved client {name.strip()}"
    return RedirectResponse("/admin/config", status_code=303)


class _Invalid(ValueError):
    pass


def _save_org(s: Session, name: str, domains: list[str], csm: str) -> None:
    csm_agent = s.scalar(select(Agent).where(Agent.email == csm)) if csm else None
    if csm and csm_agent is None:
        raise _Invalid(f"no agent {csm}")
    taken = s.scalars(select(ClientDomain).where(ClientDomain.domain.in_(domains))).all()
    org = s.scalar(select(ClientOrg).where(ClientOrg.name == name))
    clash = [d.domain for d in taken if org is None or d.org_id != org.id]
    if clash:
        raise _Invalid(f"domain already belongs to another client: {', '.join(clash)}")
    if org is None:
        org = ClientOrg(name=name)
        s.add(org)
        s.flush()
    org.csm_agent_id = csm_agent.id if csm_agent else None
    have = {d.domain for d in taken}
    for d in domains:
        if d not in have:
            s.add(ClientDomain(domain=d, org_id=org.id))
