"""``postdesk rules``: check a rules file, and show what the rules would do with a message."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from postdesk.gateway.cli_context import Context, pass_ctx
from postdesk.rules.loader import RulesError


@click.group()
def rules() -> None:
    """The rules engine: rules files and dry runs."""


@rules.command("check")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def rules_check(file: Path) -> None:
    """Validate FILE; print its rules, or every error with the rule and field it is in."""
    from postdesk.rules.builtin import build_rules

    try:
        built, config = build_rules(file)
    except RulesError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(
        f"{file}: OK, {len(config.rules)} rules"
        + (" (with the built-in ones)" if config.defaults else "")
    )
    for rule in built:
        click.echo(f"  {rule.name:<28} {', '.join(rule.events)}")


@rules.command("dry-run")
@click.argument("message", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A rules file to try instead of the rules in force (the admin's edit, or the file).",
)
@click.option("--sender", "-f", default="", help="Envelope sender (default: the From address).")
@click.option(
    "--recipient", "-r", default="", help="Envelope recipient (default: first support address)."
)
@pass_ctx
def rules_dry_run(
    c: Context, message: Path, rules_file: Path | None, sender: str, recipient: str
) -> None:
    """Parse, classify and thread MESSAGE against the store, run the rules, and print what
    they would do. Nothing is written: everything happens in a transaction rolled back."""
    from postdesk.gateway.dry_run import dry_run
    from postdesk.rules.builtin import build_rules

    try:
        built = (
            build_rules(rules_file, c.settings.on_call)[0]
            if rules_file
            else list(c.app.live_rules.snapshot()[0])
        )
    except RulesError as exc:
        raise click.ClickException(str(exc)) from None
    plan = dry_run(c.app, message.read_bytes(), built, sender=sender, recipient=recipient)
    click.echo(f"classified: {plan.classification}")
    click.echo(f"thread:     {plan.thread}")
    if plan.ticket_id is not None:
        click.echo(f"ticket:     #{plan.ticket_id} (not saved)")
    click.echo("matched rules:")
    matched = [o for o in plan.outcomes if o.matched]
    for o in matched or []:
        click.echo(f"  {o.rule} on {o.event}: {o.reason}")
    if not matched:
        click.echo("  (none)")
    missed = sorted({o.rule for o in plan.outcomes if not o.matched} - {o.rule for o in matched})
    if missed:
        click.echo("not matched: " + ", ".join(missed))
    click.echo("planned actions:")
    for line in [
        *plan.changes,
        *(f"mail {m}" for m in plan.mail),
        *(f"notify {n}" for n in plan.notifications),
    ] or ["(none)"]:
        click.echo(f"  {line}")
    click.echo("nothing was written (dry run)")
