"""The ticket page's Escalate button: what ``#escalate`` in an agent's mail does."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from postdesk.admin.deps import DbId, session_agent, state
from postdesk.admin.security import csrf_protect
from postdesk.admin.web_tickets import act
from postdesk.rules.engine import event_for
from postdesk.rules.escalation import escalate
from postdesk.rules.fire import fire
from postdesk.store.models import Agent, Ticket

router = APIRouter(prefix="/admin", dependencies=[Depends(csrf_protect)])


@router.post("/tickets/{number}/escalate")
def post_escalate(
    request: Request,
    number: DbId,
    reason: str = Form("", max_length=2000),
    escalation_type: str = Form("", max_length=40),
    me: Agent = Depends(session_agent),
) -> Response:
    core = state(request).core

    def do(s: Session, ticket: Ticket, now: datetime) -> None:
        done = escalate(
            s,
            ticket,
            me.email,
            now,
            escalation_type or None,
            hierarchy=core.rules_config.settings.escalation,
            reason=reason.strip() or "from the admin",
        )
        # The rules see it as they see an admin change: the level's team is told, and so on.
        fire(
            s,
            core.rules,
            ticket=ticket,
            events=[event_for(done.change)],
            now=now,
            renderer=core.renderer,
            ident=core.pipeline.ident,
        )

    return act(request, number, me, "Escalated", "", do)
