"""The rules file, as pydantic models: validated once at start, with errors naming rule and field.

See docs/rules.md for the format. Every rule is small and named: the events it listens to
(``events``), the conditions that must all hold (``when``) and the actions it takes (``then``).
"""

from __future__ import annotations

import re
from datetime import date, time
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

EVENTS = (
    "ticket.created",
    "message.received",
    "ticket.reopened",
    "status.changed",
    "priority.changed",
    "ticket.assigned",
    "ticket.escalated",
    "time.passed",
)
# Fields a condition may test; ``ticket.fields.<name>`` reaches the free fields.
FIELDS = (
    "ticket.status",
    "ticket.priority",
    "ticket.type",
    "ticket.subject",
    "ticket.origin",
    "ticket.tags",
    "ticket.assigned",
    "ticket.escalation_level",
    "ticket.age_hours",
    "ticket.idle_hours",
    "message.from",  # client | agent | none
    "message.subject",
    "message.text",
    "message.kind",
    "message.visibility",
    "message.direction",
    "sender.address",
    "sender.domain",
    "client",
    "event.actor",
    "event.old",
    "event.new",
)
WHO = (
    "assignee",
    "assigner",
    "assignee_or_csm",
    "csm",
    "managers",
    "team",
    "on_call",
    "escalation_team",
)
STRATEGIES = ("csm", "round_robin", "least_open")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Strict):
    """One test; exactly one operator. ``not: true`` inverts it."""

    field: str | None = None
    equals: Any = None
    in_: list[Any] | None = Field(None, alias="in")
    regex: str | None = None
    contains: str | None = None
    at_least: float | None = None
    business_hours: bool | None = None
    not_: bool = Field(False, alias="not")

    @field_validator("field")
    @classmethod
    def _known_field(cls, value: str | None) -> str | None:
        if value is None or value in FIELDS or value.startswith("ticket.fields."):
            return value
        raise ValueError(f"unknown field {value!r} (one of: {', '.join(FIELDS)}, ticket.fields.*)")

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regex {value!r}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_operator(self) -> Condition:
        ops = [
            n
            for n in ("equals", "in_", "regex", "contains", "at_least")
            if getattr(self, n) is not None
        ]
        if self.business_hours is not None:
            if self.field is not None or ops:
                raise ValueError("business_hours stands alone (no field, no operator)")
            return self
        if self.field is None:
            raise ValueError("a condition needs a field (or business_hours)")
        if len(ops) != 1:
            raise ValueError("give exactly one of: equals, in, regex, contains, at_least")
        return self


class Assign(_Strict):
    strategy: Literal["csm", "round_robin", "least_open"] | None = None
    agent: str | None = None
    team: str | None = None
    fallback: Literal["round_robin", "least_open"] | None = None

    @model_validator(mode="after")
    def _what(self) -> Assign:
        if (self.strategy is None) == (self.agent is None):
            raise ValueError("give either strategy or agent")
        if self.strategy in ("round_robin", "least_open") and not self.team:
            raise ValueError(f"{self.strategy} needs a team")
        return self


class Notify(_Strict):
    who: list[str]
    kind: str = "status"
    summary: str | None = None  # default: the rule's description
    email: bool = True

    @field_validator("who")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        for who in value:
            if who not in WHO and "@" not in who:
                raise ValueError(
                    f"unknown recipient {who!r} (one of: {', '.join(WHO)}, or an address)"
                )
        return value


class Reply(_Strict):
    template: str
    to: Literal["requester", "participants"] = "requester"


class Escalate(_Strict):
    type: str | None = None


class Action(_Strict):
    """Exactly one key per action."""

    assign: Assign | None = None
    set: dict[str, str] | None = None  # status | priority | type | fields.<name>
    add_tag: str | None = None
    reply: Reply | None = None
    notify: Notify | None = None
    escalate: Escalate | None = None
    close: dict[str, Any] | None = None
    request_document: dict[str, Any] | None = None  # {names: [...], note: "..."}
    suggest_articles: dict[str, Any] | None = None  # filled by the knowledge base

    @field_validator("request_document")
    @classmethod
    def _documents(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return value
        unknown = sorted(set(value) - {"names", "note"})
        if unknown:
            raise ValueError(f"request_document takes names and note, not {', '.join(unknown)}")
        names = value.get("names")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise ValueError("request_document needs names: a list of document names")
        if not isinstance(value.get("note", ""), str):
            raise ValueError("request_document's note is text")
        return value

    @field_validator("set")
    @classmethod
    def _settable(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for key in value or {}:
            if key not in ("status", "priority", "type") and not key.startswith("fields."):
                raise ValueError(f"cannot set {key!r} (status, priority, type or fields.<name>)")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Action:
        given = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"an action has exactly one of: {', '.join(type(self).model_fields)} "
                f"(got {', '.join(given) or 'none'})"
            )
        return self

    @property
    def kind(self) -> str:
        return next(k for k in type(self).model_fields if getattr(self, k) is not None)


class RuleSpec(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$")
    description: str = ""
    # "events", not "on": YAML 1.1 reads a bare ``on`` key as the boolean true.
    events: list[str] = Field(min_length=1)
    when: list[Condition] = Field(default_factory=list)
    then: list[Action] = Field(min_length=1)
    enabled: bool = True

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        for e in value:
            if e not in EVENTS:
                raise ValueError(f"unknown event {e!r} (one of: {', '.join(EVENTS)})")
        return value


class BusinessHours(_Strict):
    timezone: str = "UTC"
    days: list[str] = Field(default_factory=lambda: list(DAYS[:5]))
    start: time = time(9, 0)
    end: time = time(17, 0)
    holidays: list[date] = Field(default_factory=list)  # days off on top of the weekly ones

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}") from None
        return value

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        bad = [d for d in value if d not in DAYS]
        if bad:
            raise ValueError(f"unknown day(s) {bad} (use {', '.join(DAYS)})")
        return value

    @model_validator(mode="after")
    def _opens_before_it_closes(self) -> BusinessHours:
        if self.start >= self.end:
            raise ValueError(f"business hours start ({self.start}) must be before end ({self.end})")
        return self


class Level(_Strict):
    """One step of the escalation hierarchy: who is told when a ticket reaches it."""

    name: str
    team: str | None = None  # agents of this team
    managers: bool = False  # and/or every manager


class Sla(_Strict):
    first_response_hours: float | None = None
    resolution_hours: float | None = None
    # "business": count only business hours (settings.business_hours); "wall": every hour
    clock: Literal["wall", "business"] = "wall"


class Timers(_Strict):
    pending_reminder_days: float | None = 3
    pending_close_days: float | None = 10
    close_resolved: bool = True  # Resolved -> Closed after the reopen window
    sla: dict[Literal["P1", "P2", "P3", "P4"], Sla] = Field(default_factory=dict)
    escalate_on_breach: bool = True


class Policy(_Strict):
    business_hours: BusinessHours = Field(default_factory=BusinessHours)
    on_call: str | None = None
    default_team: str | None = None
    escalation: list[Level] = Field(default_factory=lambda: [Level(name="manager", managers=True)])
    timers: Timers = Field(default_factory=Timers)


class RulesFile(_Strict):
    defaults: bool = True  # also run the built-in rules (acknowledgement, notifications, ...)
    settings: Policy = Field(default_factory=Policy)
    rules: list[RuleSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> RulesFile:
        seen: set[str] = set()
        for r in self.rules:
            if r.name in seen:
                raise ValueError(f"two rules are named {r.name!r}")
            seen.add(r.name)
        return self
