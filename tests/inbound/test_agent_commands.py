"""The command block at the top of an agent's mail."""

from __future__ import annotations

import pytest

from postdesk.inbound.agent_commands import parse_commands, workflow_errors

CASES = [
    # (name, text, [(command, arg)], [bad lines], remaining text)
    ("no commands", "Hello,\nthanks.", [], [], "Hello,\nthanks."),
    ("status", "#status resolved\nDone, thanks!", [("status", "resolved")], [], "Done, thanks!"),
    (
        "several with blank lines",
        "\n#status pending\n\n#priority p2\n#assign me\n\nWe need the invoice.",
        [("status", "pending"), ("priority", "p2"), ("assign", "me")],
        [],
        "We need the invoice.",
    ),
    ("note alone", "#note\nCustomer is upset.", [("note", "")], [], "Customer is upset."),
    ("internal is note", "#internal\nx", [("note", "")], [], "x"),
    (
        "note with text on its line",
        "#note call them back\nmore",
        [("note", "")],
        [],
        "call them back\nmore",
    ),
    ("colon form", "#status: on hold\nok", [("status", "on hold")], [], "ok"),
    ("upper case name", "#STATUS Closed\nbye", [("status", "Closed")], [], "bye"),
    (
        "escalate with reason",
        "#escalate client threatens to leave\nx",
        [("escalate", "client threatens to leave")],
        [],
        "x",
    ),
    ("hash further down is text", "Hi\n#status closed\n", [], [], "Hi\n#status closed"),
    ("number is text", "#123 is the order\nthanks", [], [], "#123 is the order\nthanks"),
    ("unknown command", "#stauts resolved\nDone", [], ["#stauts resolved"], "Done"),
    ("bad status", "#status done\nDone", [], ["#status done"], "Done"),
    ("bad priority", "#priority urgent\nx", [], ["#priority urgent"], "x"),
    ("assign without value", "#assign\nx", [], ["#assign"], "x"),
    (
        "status twice",
        "#status open\n#status closed\nx",
        [("status", "open")],
        ["#status closed"],
        "x",
    ),
    ("commands only", "#status resolved", [("status", "resolved")], [], ""),
]


@pytest.mark.parametrize(
    ("text", "commands", "bad", "rest"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_parse_commands(text: str, commands: list, bad: list, rest: str) -> None:
    parsed = parse_commands(text)
    assert [(c.name, c.arg) for c in parsed.commands] == commands
    assert [e.line for e in parsed.errors] == bad
    assert all(e.reason for e in parsed.errors)
    assert parsed.text == rest


def test_workflow_checks_each_command_on_the_state_before() -> None:
    parsed = parse_commands("#type question\n#status pending\n")
    [error] = workflow_errors(parsed.commands, "support", "open")
    assert error.line == "#status pending" and "question" in error.reason
    assert workflow_errors(parse_commands("#status pending").commands, "support", "open") == []


def test_type_escalation_is_refused_with_a_reason() -> None:
    [error] = workflow_errors(parse_commands("#type escalation").commands, "support", "open")
    assert "escalate" in error.reason


def test_closed_ticket_refuses_status() -> None:
    [error] = workflow_errors(parse_commands("#status open").commands, "support", "closed")
    assert "closed" in error.reason
