"""The rules that run: the acknowledgement, then the rules file's (or the default) rules."""

from __future__ import annotations

from pathlib import Path

from postdesk.outbound.render import BUILTIN
from postdesk.rules.acknowledge import Acknowledge
from postdesk.rules.configured import ConfiguredRule
from postdesk.rules.document_flow import DocumentArrival
from postdesk.rules.engine import Rule
from postdesk.rules.estimate_rule import SuggestEstimate
from postdesk.rules.loader import (
    RulesError,
    effective_rules,
    missing_templates,
    parse_rules,
    with_defaults,
)
from postdesk.rules.schema import RulesFile
from postdesk.rules.suggest import SuggestArticles, SuggestConfig


def build_rules(
    rules_file: Path | None = None,
    on_call: str | None = None,
    kb: SuggestConfig | None = None,
) -> tuple[list[Rule], RulesFile]:
    """The engine's rules and the policy they were built from; raises ``RulesError``."""
    return rules_from(effective_rules(rules_file), str(rules_file), on_call, kb)


def build_rules_text(
    text: str, source: str, on_call: str | None = None, kb: SuggestConfig | None = None
) -> tuple[list[Rule], RulesFile]:
    """As ``build_rules`` for a rules document held as text (edited in the admin)."""
    return rules_from(with_defaults(parse_rules(text, source)), source, on_call, kb)


def rules_from(
    config: RulesFile, source: str, on_call: str | None, kb: SuggestConfig | None
) -> tuple[list[Rule], RulesFile]:
    problems = missing_templates(config, [BUILTIN])
    if problems:
        raise RulesError("\n".join(f"{source}: {p}" for p in problems))
    configured: list[Rule] = [
        ConfiguredRule(spec, config.settings, on_call=on_call) for spec in config.rules
    ]
    # Suggestions first: the acknowledgement lists the articles they found. The estimate
    # last: a configured rule may have made the ticket a question.
    rules: list[Rule] = [
        SuggestArticles(kb or SuggestConfig()),
        Acknowledge(),
        DocumentArrival(),
        *configured,
    ]
    return [*rules, SuggestEstimate()], config


def builtin_rules(
    rules_file: Path | None = None, on_call: str | None = None, kb: SuggestConfig | None = None
) -> list[Rule]:
    return build_rules(rules_file, on_call, kb)[0]
