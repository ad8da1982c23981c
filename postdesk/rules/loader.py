"""Read a rules file (YAML), validate it, and merge it with the built-in default rules.

Errors name the rule and the field: ``rule 'vip' (rules[2]) when[0].regex: invalid regex ...``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from postdesk.rules.schema import RulesFile

DEFAULTS = Path(__file__).resolve().parent / "default_rules.yaml"


class RulesError(ValueError):
    """A rules file that cannot be used; the message lists every problem, one per line."""


def parse_rules(text: str, source: str = "rules file") -> RulesFile:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise RulesError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise RulesError(f"{source}: the top level must be a mapping (settings:, rules:)")
    try:
        return RulesFile.model_validate(data)
    except ValidationError as exc:
        raise RulesError(_describe(exc, data, source)) from None


def load_rules_file(path: Path) -> RulesFile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_rules(text, str(path))


def default_rules() -> RulesFile:
    return parse_rules(DEFAULTS.read_text(encoding="utf-8"), "built-in rules")


def effective_rules(path: Path | None) -> RulesFile:
    """The rules that run: the built-in ones, overridden (by name) and extended by the file."""
    if path is None:
        return default_rules()
    return with_defaults(load_rules_file(path))


def with_defaults(custom: RulesFile) -> RulesFile:
    """``custom`` merged with the built-in rules when it asks for them (``defaults: true``)."""
    builtin = default_rules()
    if not custom.defaults:
        return custom
    names = {r.name for r in custom.rules}
    kept = [r for r in builtin.rules if r.name not in names]
    return custom.model_copy(update={"rules": [*kept, *custom.rules]})


def missing_templates(config: RulesFile, template_dirs: list[Path]) -> list[str]:
    """Reply/close templates the rules name that exist in none of ``template_dirs``."""
    problems = []
    for rule in config.rules:
        for j, action in enumerate(rule.then):
            name = action.reply.template if action.reply else None
            key = "reply.template"
            if action.close and action.close.get("template"):
                name, key = str(action.close["template"]), "close.template"
            if name is None:
                continue
            if not any((d / f"{name}.txt.j2").exists() for d in template_dirs):
                problems.append(
                    f"rule {rule.name!r} then[{j}].{key}: no template {name!r}"
                    f" ({name}.subject.j2 and {name}.txt.j2)"
                )
    return problems


def _describe(exc: ValidationError, data: dict[str, Any], source: str) -> str:
    lines = []
    raw_rules = data.get("rules")
    rules: list[Any] = raw_rules if isinstance(raw_rules, list) else []
    for err in exc.errors():
        loc = list(err["loc"])
        where = ""
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            raw = rules[loc[1]] if loc[1] < len(rules) else None
            name = raw.get("name") if isinstance(raw, dict) else None
            where = f"rule {name!r} (rules[{loc[1]}])" if name else f"rules[{loc[1]}]"
            loc = loc[2:]
        # pydantic puts the model name of a union/validator step in the path; drop non-fields
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{source}: {' '.join(x for x in (where, path) if x)}: {msg}")
    return "\n".join(lines)
