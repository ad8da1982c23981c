"""``postdesk user``: staff who sign in to the admin, and API tokens for integrations."""

from __future__ import annotations

import sys

import click
from sqlalchemy import select

from postdesk.gateway.cli_context import Context, pass_ctx

ROLES = ("admin", "manager", "agent")


@click.group()
def user() -> None:
    """Admin users (agents with a password) and API tokens."""


@user.command("add")
@click.argument("email")
@click.option("--name", default="", help="Display name.")
@click.option("--role", type=click.Choice(ROLES), default="agent", show_default=True)
@click.option("--team", default=None, help="Team name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin (scripts).")
@pass_ctx
def user_add(
    c: Context, email: str, name: str, role: str, team: str | None, password_stdin: bool
) -> None:
    """Create an agent who can sign in, or set an existing one's password, name and role."""
    from postdesk.admin.passwords import hash_password
    from postdesk.store.models import Agent

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        hashed = hash_password(password)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    email = email.strip().lower()
    if "@" not in email:
        raise click.ClickException(f"not an address: {email}")
    with c.app.db.transaction() as s:
        agent = s.scalar(select(Agent).where(Agent.email == email))
        created = agent is None
        if agent is None:
            agent = Agent(email=email)
            s.add(agent)
        agent.password_hash = hashed
        agent.role = role
        agent.active = True
        if name:
            agent.name = name
        if team is not None:
            agent.team = team or None
    click.echo(f"{'created' if created else 'updated'} {role} {email}")


@user.command("token")
@click.argument("email")
@click.option("--name", default="", help="What the token is for (shown in listings).")
@pass_ctx
def user_token(c: Context, email: str, name: str) -> None:
    """Print a new API token for EMAIL (shown once; only its hash is kept)."""
    from postdesk.admin.passwords import new_token, token_hash
    from postdesk.store.admin_models import ApiToken
    from postdesk.store.models import Agent

    token = new_token()
    with c.app.db.transaction() as s:
        agent = s.scalar(select(Agent).where(Agent.email == email.strip().lower()))
        if agent is None or not agent.active:
            raise click.ClickException(f"no active agent {email}")
        s.add(ApiToken(agent_id=agent.id, token_hash=token_hash(token), name=name[:100]))
    click.echo(token)
