"""The built-in policy, as data: the rules that run when no rules file says otherwise."""

from __future__ import annotations

from postdesk.rules.acknowledge import Acknowledge
from postdesk.rules.engine import Rule
from postdesk.rules.suggest import SuggestArticles, SuggestConfig


def builtin_rules(kb: SuggestConfig | None = None) -> list[Rule]:
    # Suggestions first: the acknowledgement lists the articles they found.
    return [SuggestArticles(kb or SuggestConfig()), Acknowledge()]
