"""The built-in policy, as data: the rules that run when no rules file says otherwise."""

from __future__ import annotations

from postdesk.rules.acknowledge import Acknowledge
from postdesk.rules.engine import Rule


def builtin_rules() -> list[Rule]:
    return [Acknowledge()]
