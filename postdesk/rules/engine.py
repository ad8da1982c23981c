"""A small interpreter: for each event, run the rules that listen to it and record why.

A rule is a named piece with a one-line description, the events it listens to, a pure
``check`` that returns the reason it applies (or None), and ``apply`` that acts through the
context (write rows, enqueue mail). Every match is written to the ticket's audit trail
(action ``rule``, detail "<name>: <reason>"), so the ticket shows why things happened.
Changes made by actions raise follow-up events (``ctx.follow_ups``), processed after the
current event, up to a bound that stops rules from triggering each other forever.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Session

from postdesk.store.audit_log import audit

if TYPE_CHECKING:
    from postdesk.inbound.message import InboundMessage
    from postdesk.outbound.render import Renderer
    from postdesk.outbound.ticket_mail import MailIdentity
    from postdesk.store.changes import Change
    from postdesk.store.models import Message, Ticket

MAX_EVENTS = 20  # per dispatch: follow-up events beyond this are dropped (and audited)


@dataclass(frozen=True, slots=True)
class Event:
    name: str  # ticket.created | message.received | ticket.reopened | ...
    ticket_id: int
    actor: str = "system"
    old: str | None = None
    new: str | None = None


_CHANGE_EVENTS = {
    "status": "status.changed",
    "assignee": "ticket.assigned",
    "priority": "priority.changed",
    "escalation_level": "ticket.escalated",
}


def event_for(change: Change | None) -> Event | None:
    """The rules event a store change raises (None for changes no rule listens to)."""
    if change is None or change.field not in _CHANGE_EVENTS:
        return None
    return Event(
        _CHANGE_EVENTS[change.field], change.ticket_id, change.actor, change.old, change.new
    )


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
    staff_sender: bool = False  # the inbound message came from a verified agent
    facts: dict[str, Any] = field(default_factory=dict)
    follow_ups: list[Event] = field(default_factory=list)

    def changed(self, change: Change | None) -> None:
        """Queue the event of a change an action made."""
        event = event_for(change)
        if event is not None:
            self.follow_ups.append(event)


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
            audit(
                ctx.session,
                ctx.ticket.id,
                f"rule:{rule.name}",
                "rule",
                detail=f"{rule.name} on {ctx.event.name}: {reason}"[:2000],
                at=ctx.now,
            )
            rule.apply(ctx)
    return outcomes


@dataclass(frozen=True, slots=True)
class Ahead:
    """What is known of a message before its ticket is written, for rules asking ahead."""

    now: datetime  # the ``RuleContext.now`` the rules will run with
    sender: str | None = None  # the sender's address, lowercased (a new ticket's requester)
    may_auto_respond: bool = False  # as far as is known before the ticket: the message may


def ask_ahead(rules: Sequence[Rule], session: Session, event: str, ahead: Ahead) -> None:
    """Let the rules on ``event`` send the reads they will need ahead (``Prepared.ask``: on
    PostgreSQL they go with the next statement instead of a round trip each). A rule that
    reads something known in advance says so with an optional ``ask_ahead(session, ahead)``;
    an answer nobody takes costs a little of the database's time, nothing else."""
    for rule in rules:
        ask = getattr(rule, "ask_ahead", None)
        if ask is not None and event in rule.events:
            ask(session, ahead)


def dispatch(rules: Sequence[Rule], ctx: RuleContext, events: Iterable[Event]) -> list[RuleOutcome]:
    """Run ``events`` and the follow-ups their actions raise, in order, sharing ``ctx.facts``."""
    queue = list(events)
    outcomes: list[RuleOutcome] = []
    handled = 0
    while queue:
        event = queue.pop(0)
        if handled >= MAX_EVENTS:
            audit(
                ctx.session,
                ctx.ticket.id,
                "system",
                "rule",
                detail=f"stopped: too many events ({event.name} dropped)",
                at=ctx.now,
            )
            break
        handled += 1
        step = dataclasses.replace(ctx, event=event, follow_ups=[])
        outcomes.extend(run_rules(rules, step))
        queue.extend(step.follow_ups)
    return outcomes
