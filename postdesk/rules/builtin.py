"""The rules that run: the acknowledgement, then the rules file's (or the default) rules."""

from __future__ import annotations

from pathlib import Path

from postdesk.outbound.render import BUILTIN
from postdesk.rules.acknowledge import Acknowledge
from postdesk.rules.configured import ConfiguredRule
from postdesk.rules.engine import Rule
from postdesk.rules.loader import RulesError, effective_rules, missing_templates
from postdesk.rules.schema import RulesFile
from postdesk.rules.suggest import SuggestArticles, SuggestConfig


def build_rules(
    rules_file: Path | None = None,
    on_call: str | None = None,
    kb: SuggestConfig | None = None,
) -> tuple[list[Rule], RulesFile]:
    """The engine's rules and the policy they were built from; raises ``RulesError``."""
    config = effective_rules(rules_file)
    problems = missing_templates(config, [BUILTIN])
    if problems:
        raise RulesError("\n".join(f"{rules_file}: {p}" for p in problems))
    configured: list[Rule] = [
        ConfiguredRule(spec, config.settings, on_call=on_call) for spec in config.rules
    ]
    # Suggestions first: the acknowledgement lists the articles they found.
    return [SuggestArticles(kb or SuggestConfig()), Acknowledge(), *configured], config


def builtin_rules(
    rules_file: Path | None = None, on_call: str | None = None, kb: SuggestConfig | None = None
) -> list[Rule]:
    return build_rules(rules_file, on_call, kb)[0]
