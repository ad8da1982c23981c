"""The rules file: the example and the built-in rules validate; bad files name rule and field."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from postdesk.gateway.cli import main
from postdesk.rules.conditions import check, in_business_hours
from postdesk.rules.loader import RulesError, default_rules, effective_rules, parse_rules
from postdesk.rules.schema import BusinessHours, Condition

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "rules.example.yaml"


def test_the_example_and_the_built_in_rules_are_valid() -> None:
    example = effective_rules(EXAMPLE)
    names = [r.name for r in example.rules]
    assert "vip-clients-are-p2" in names and "notify-new-ticket" in names  # defaults kept
    assert example.settings.business_hours.timezone == "Europe/Paris"
    assert [lvl.name for lvl in example.settings.escalation] == ["manager", "it-support"]
    assert {r.name for r in default_rules().rules} >= {"assign-to-csm", "notify-assigned"}


def test_a_rule_of_the_same_name_replaces_the_built_in_one(tmp_path: Path) -> None:
    f = tmp_path / "r.yaml"
    f.write_text(
        "rules:\n  - name: notify-new-ticket\n    events: [ticket.created]\n"
        "    then: [{add_tag: x}]\n"
    )
    rules = effective_rules(f).rules
    [replaced] = [r for r in rules if r.name == "notify-new-ticket"]
    assert replaced.then[0].add_tag == "x"
    f.write_text("defaults: false\nrules: []\n")
    assert effective_rules(f).rules == []


BAD = [
    (
        "rules:\n  - name: vip\n    events: [ticket.created]\n"
        "    when: [{field: subject, equals: x}]\n    then: [{add_tag: a}]\n",
        "rule 'vip' (rules[0]) when[0].field: unknown field 'subject'",
    ),
    (
        "rules:\n  - name: ok\n    events: [ticket.created]\n    then: [{add_tag: a}]\n"
        "  - name: broken-re\n    events: [ticket.created]\n"
        "    when: [{field: message.text, regex: '(unclosed'}]\n    then: [{add_tag: a}]\n",
        "rule 'broken-re' (rules[1]) when[0].regex: invalid regex '(unclosed'",
    ),
    (
        "rules:\n  - name: ev\n    events: [ticket.deleted]\n    then: [{add_tag: a}]\n",
        "rule 'ev' (rules[0]) events: unknown event 'ticket.deleted'",
    ),
    (
        "rules:\n  - name: two\n    events: [ticket.created]\n"
        "    then: [{add_tag: a, close: {}}]\n",
        "rule 'two' (rules[0]) then[0]: an action has exactly one of",
    ),
    (
        "rules:\n  - name: who\n    events: [ticket.created]\n"
        "    then: [{notify: {who: [everyone]}}]\n",
        "rule 'who' (rules[0]) then[0].notify.who: unknown recipient 'everyone'",
    ),
    (
        "rules:\n  - name: rr\n    events: [ticket.created]\n"
        "    then: [{assign: {strategy: round_robin}}]\n",
        "rule 'rr' (rules[0]) then[0].assign: round_robin needs a team",
    ),
    (
        "rules:\n  - name: set\n    events: [ticket.created]\n    then: [{set: {colour: red}}]\n",
        "rule 'set' (rules[0]) then[0].set: cannot set 'colour'",
    ),
    (
        "rules:\n  - name: typo\n    events: [ticket.created]\n    them: []\n",
        "rule 'typo' (rules[0]) them: Extra inputs are not permitted",
    ),
    (
        "settings:\n  business_hours: {timezone: Mars/Olympus}\n",
        "settings.business_hours.timezone: unknown timezone 'Mars/Olympus'",
    ),
    ("rules: [\n", "not valid YAML"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_errors_name_the_rule_and_the_field(text: str, message: str) -> None:
    with pytest.raises(RulesError) as err:
        parse_rules(text, "r.yaml")
    assert message in str(err.value)


def test_rules_check_command(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["rules", "check", str(EXAMPLE)])
    assert ok.exit_code == 0, ok.output
    assert "OK" in ok.output and "stale-p1" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD[0][0])
    refused = runner.invoke(main, ["rules", "check", str(bad)])
    assert refused.exit_code == 1
    assert "rule 'vip' (rules[0]) when[0].field: unknown field 'subject'" in refused.output


HOURS = BusinessHours(timezone="Europe/Paris", start="09:00", end="18:00")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("when", "inside"),
    [
        (datetime(2026, 3, 2, 7, 59, tzinfo=UTC), False),  # Monday 08:59 in Paris
        (datetime(2026, 3, 2, 8, 0, tzinfo=UTC), True),  # Monday 09:00 in Paris
        (datetime(2026, 3, 2, 16, 59, tzinfo=UTC), True),
        (datetime(2026, 3, 2, 17, 0, tzinfo=UTC), False),  # 18:00 in Paris
        (datetime(2026, 3, 7, 10, 0, tzinfo=UTC), False),  # Saturday
        (datetime(2026, 7, 6, 7, 30, tzinfo=UTC), True),  # summer time: 09:30 in Paris
    ],
)
def test_business_hours_in_the_configured_timezone(when: datetime, inside: bool) -> None:
    assert in_business_hours(when, HOURS) is inside
    cond = Condition(business_hours=True)
    assert (check(cond, {}, when, HOURS) is not None) is inside


FACTS = {
    "sender.domain": "client.example",
    "ticket.subject": "Printer DOWN again",
    "ticket.tags": ["vip", "emea"],
    "ticket.priority": "P2",
    "ticket.idle_hours": 3.5,
}
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cond", "holds"),
    [
        ({"field": "sender.domain", "equals": "CLIENT.example"}, True),
        ({"field": "sender.domain", "in": ["a.example", "client.example"]}, True),
        ({"field": "ticket.subject", "regex": r"(?i)\bdown\b"}, True),
        ({"field": "ticket.subject", "regex": r"\bdown\b"}, False),
        ({"field": "ticket.subject", "contains": "printer"}, True),
        ({"field": "ticket.tags", "equals": "vip"}, True),
        ({"field": "ticket.tags", "equals": "apac"}, False),
        ({"field": "ticket.priority", "in": ["P1", "P2"], "not": True}, False),
        ({"field": "ticket.idle_hours", "at_least": 3}, True),
        ({"field": "ticket.idle_hours", "at_least": 4}, False),
        ({"field": "client", "equals": "Acme"}, False),  # a missing fact never matches
    ],
)
def test_conditions(cond: dict, holds: bool) -> None:  # type: ignore[type-arg]
    reason = check(Condition.model_validate(cond), FACTS, NOW, HOURS)
    assert (reason is not None) is holds
    if holds:
        assert cond["field"] in reason  # type: ignore[operator]


def test_summary_placeholders_reach_no_attributes() -> None:
    from postdesk.rules.actions import _fill
    from postdesk.store.models import Ticket

    t = Ticket(id=7, subject="Tills down", priority="P1", status="open")
    assert _fill("#{ticket.id} {ticket.subject} ({ticket.priority})", t) == "#7 Tills down (P1)"
    assert _fill("{ticket.__class__}", t) == "{ticket.__class__}"


def test_a_reply_with_a_missing_template_is_refused_at_start(tmp_path: Path) -> None:
    from postdesk.rules.builtin import build_rules

    f = tmp_path / "r.yaml"
    f.write_text(
        "rules:\n  - name: thanks\n    events: [ticket.created]\n"
        "    then: [{add_tag: a}, {reply: {template: thank_you}}]\n"
    )
    with pytest.raises(RulesError, match=r"rule 'thanks' then\[1\]\.reply\.template"):
        build_rules(f)
