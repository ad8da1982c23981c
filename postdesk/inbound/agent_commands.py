"""Commands at the top of an agent's mail: ``#status resolved``, ``#assign me``, ``#note``...

Pure parsing and checking. Commands sit on their own lines before the first line of text
(blank lines between them are fine); the first other line ends the block, so a ``#`` further
down is ordinary text. A line such as ``#123`` (a number, not a word) is text as well. Any
unknown or malformed command makes the whole mail refused: a half-applied set of commands is
worse than none, and the agent gets the reason by mail.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from postdesk.rules.estimate import parse_minutes
from postdesk.store.workflow import (
    WorkflowError,
    parse_priority,
    parse_status,
    parse_type,
    status_refusal,
    type_refusal,
)

_COMMAND = re.compile(r"^#(?P<name>[A-Za-z][\w-]*)(?:[ \t:]+(?P<arg>.*))?$")

# name -> the help line shown in the error mail
HELP: dict[str, str] = {
    "status": "#status pending|open|on-hold|resolved|closed",
    "assign": "#assign me|<agent email or name>",
    "priority": "#priority P1|P2|P3|P4",
    "type": "#type support|question",
    "note": "#note (or #internal): an internal note, never sent to the client",
    "internal": "#internal: the same as #note",
    "escalate": "#escalate [reason]: escalate to the managers",
    "time": "#time MINUTES: the time the work took (calibrates estimates)",
}
_NEEDS_ARG = frozenset({"status", "assign", "priority", "type", "time"})
_PARSERS: dict[str, Callable[[str], object]] = {
    "status": parse_status,
    "priority": parse_priority,
    "type": parse_type,
    "time": parse_minutes,
}


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # status | assign | priority | type | note | escalate | time (internal -> note)
    arg: str
    line: str  # as written, for messages


@dataclass(frozen=True, slots=True)
class CommandError:
    line: str
    reason: str


@dataclass(frozen=True, slots=True)
class ParsedCommands:
    commands: tuple[Command, ...]
    errors: tuple[CommandError, ...]
    text: str  # the mail's text without the command lines

    @property
    def internal(self) -> bool:
        return any(c.name == "note" for c in self.commands)

    def get(self, name: str) -> Command | None:
        return next((c for c in self.commands if c.name == name), None)


def parse_commands(text: str) -> ParsedCommands:
    lines = text.splitlines()
    commands: list[Command] = []
    errors: list[CommandError] = []
    prefix: list[str] = []  # text after #note on its own line belongs to the note
    index = 0
    while index < len(lines):
        stripped = lines[index].strip()
        match = _COMMAND.match(stripped)
        if stripped and match is None:
            break
        index += 1
        if not stripped or match is None:
            continue
        name, arg = match["name"].lower(), (match["arg"] or "").strip()
        if name == "internal":
            name = "note"
        problem = _problem(name, arg)
        if problem is None and any(c.name == name for c in commands):
            problem = f"#{name} is given twice"
        if problem is not None:
            errors.append(CommandError(stripped, problem))
        elif name == "note":
            commands.append(Command(name, "", stripped))
            if arg:
                prefix.append(arg)
        else:
            commands.append(Command(name, arg, stripped))
    rest = "\n".join([*prefix, *lines[index:]]).strip("\n")
    return ParsedCommands(tuple(commands), tuple(errors), rest)


def _problem(name: str, arg: str) -> str | None:
    if name not in HELP:
        return f"unknown command #{name}"
    if name in _NEEDS_ARG and not arg:
        return f"#{name} needs a value: {HELP[name]}"
    parser = _PARSERS.get(name)
    if parser is not None:
        try:
            parser(arg)
        except WorkflowError as exc:
            return str(exc)
    return None


def workflow_errors(
    commands: tuple[Command, ...], ticket_type: str, status: str
) -> list[CommandError]:
    """What the workflow refuses, checked in order on the state each command would leave."""
    errors: list[CommandError] = []
    for command in commands:
        if command.name == "type":
            target = parse_type(command.arg)
            refusal = type_refusal(ticket_type, target, status)
            if refusal is None:
                ticket_type = target
        elif command.name == "status":
            target_status = parse_status(command.arg)
            refusal = status_refusal(ticket_type, status, target_status)
            if refusal is None:
                status = target_status
        else:
            continue
        if refusal is not None:
            errors.append(CommandError(command.line, refusal))
    return errors


def help_lines() -> list[str]:
    return [line for name, line in HELP.items() if name != "internal"]
