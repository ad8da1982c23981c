"""Run the rules for changes made outside the mail pipeline (agents' commands, the admin, the
scheduler): ``fire(session, rules, ticket=..., events=[event_for(change)], ...)``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from postdesk.rules.engine import Event, Rule, RuleContext, RuleOutcome, dispatch

if TYPE_CHECKING:
    from postdesk.outbound.render import Renderer
    from postdesk.outbound.ticket_mail import MailIdentity
    from postdesk.store.models import Message, Ticket


def fire(
    session: Session,
    rules: Sequence[Rule],
    *,
    ticket: Ticket,
    events: Iterable[Event | None],
    now: datetime,
    renderer: Renderer,
    ident: MailIdentity,
    message: Message | None = None,
) -> list[RuleOutcome]:
    todo = [e for e in events if e is not None]
    if not todo:
        return []
    ctx = RuleContext(
        session=session,
        event=todo[0],
        ticket=ticket,
        now=now,
        renderer=renderer,
        ident=ident,
        message=message,
    )
    return dispatch(rules, ctx, todo)
