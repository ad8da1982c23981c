"""A stage is one named check; the interpreter runs them in order and records every hit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from postdesk.inbound.classify.facts import Facts
from postdesk.inbound.classify.result import BounceInfo, Kind


@dataclass(frozen=True, slots=True)
class Finding:
    """What a stage saw. ``kind`` None: a note that only restricts what may follow."""

    reason: str
    kind: Kind | None = None
    may_auto_respond: bool = True
    may_open_ticket: bool = True
    bounce: BounceInfo | None = None


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    description: str
    check: Callable[[Facts], Finding | None]
