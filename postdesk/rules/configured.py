"""A rule from the rules file: a ``RuleSpec`` (data) made into an engine ``Rule``."""

from __future__ import annotations

from sqlalchemy.orm import Session

from postdesk.rules.actions import run_action
from postdesk.rules.conditions import check_all
from postdesk.rules.engine import Ahead, RuleContext
from postdesk.rules.facts import gather
from postdesk.rules.recipients import ask_managers
from postdesk.rules.schema import Policy, RuleSpec


class ConfiguredRule:
    def __init__(self, spec: RuleSpec, policy: Policy, *, on_call: str | None = None) -> None:
        self.spec = spec
        self.policy = policy
        self.on_call = on_call
        self.name = spec.name
        self.description = spec.description
        self.events = tuple(spec.events)

    def check(self, ctx: RuleContext) -> str | None:
        if not self.spec.enabled:
            return None
        return check_all(self.spec.when, gather(ctx), ctx.now, self.policy.business_hours)

    def apply(self, ctx: RuleContext) -> None:
        for action in self.spec.then:
            did = run_action(
                action,
                ctx,
                rule=self.name,
                description=self.description,
                policy=self.policy,
                on_call=self.on_call,
            )
            ctx.facts.setdefault("planned", []).append(f"{self.name}: {did}")

    def ask_ahead(self, session: Session, ahead: Ahead) -> None:
        """The managers, when an enabled notification names them (every new ticket's does)."""
        if self.spec.enabled and any(
            a.notify is not None and "managers" in a.notify.who for a in self.spec.then
        ):
            ask_managers(session)

    def describe(self) -> str:
        return f"{self.name} on {', '.join(self.events)}: " + ", ".join(
            a.kind for a in self.spec.then
        )
