"""A small interpreter: for each event, run the rules that listen to it and record why.

A rule is a named piece with a one-line description, the events it listens to, a pure
``check`` that returns the reason it applies (or None), and ``apply`` that acts through the
context (write rows, enqueue mail). The engine records every check, hit or miss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from postdesk.inbound.message import InboundMessage
    from postdesk.outbound.render import Renderer
    from postdesk.outbound.ticket_mail import MailIdentity
    from postdesk.store.models import Message, Ticket


@dataclass(frozen=True, slots=True)
class Event:
    name: str  # ticket.created | message.received | ticket.reopened | ...
    ticket_id: int
    actor: str = "system"


@dataclass
class RuleContext:
    session: Session
    event: Event
    ticket: Ticket
    now: datetime
    renderer: Renderer
    ident: MailIdentity
    message: Message | None = None
    inbound: InboundMessage | None = None
    may_auto_respond: bool = True
    facts: dict[str, Any] = field(default_factory=dict)


class Rule(Protocol):
    name: str
    description: str
    events: tuple[str, ...]

    def check(self, ctx: RuleContext) -> str | None: ...

    def apply(self, ctx: RuleContext) -> None: ...


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    rule: str
    event: str
    matched: bool
    reason: str


def run_rules(rules: Sequence[Rule], ctx: RuleContext) -> list[RuleOutcome]:
    outcomes: list[RuleOutcome] = []
    for rule in rules:
        if ctx.event.name not in rule.events:
            continue
        reason = rule.check(ctx)
        outcomes.append(
            RuleOutcome(rule.name, ctx.event.name, reason is not None, reason or "no match")
        )
        if reason is not None:
            rule.apply(ctx)
    return outcomes
