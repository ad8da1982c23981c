"""``postdesk suppressions``: the addresses a hard bounce stopped us mailing, and lifting one
after the customer fixed their mailbox."""

from __future__ import annotations

import click
from sqlalchemy import select

from postdesk.gateway.cli_context import Context, pass_ctx
from postdesk.store.enums import OutboxState
from postdesk.store.models import OutboxItem
from postdesk.store.suppression_models import Suppression


@click.group()
def suppressions() -> None:
    """Addresses we do not mail after a hard bounce."""


@suppressions.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include suppressions that have expired.")
@pass_ctx
def suppressions_list(c: Context, show_all: bool) -> None:
    """Suppressed addresses, the one suppressed longest first."""
    now = c.app.clock()
    with c.app.db.sessions() as session:
        query = select(Suppression).order_by(Suppression.until.desc(), Suppression.email)
        if not show_all:
            query = query.where(Suppression.until > now)
        rows = list(session.scalars(query))
        if not rows:
            click.echo("no suppressed addresses")
        for row in rows:
            state = "until" if row.until > now else "expired"
            click.echo(f"{row.email:<40} {state} {row.until:%Y-%m-%d %H:%M}  {row.reason[:120]}")


@suppressions.command("lift")
@click.argument("address")
@pass_ctx
def suppressions_lift(c: Context, address: str) -> None:
    """Mail ADDRESS again from now on (held-back outbox rows are listed, not resent)."""
    email = address.strip().lower()
    with c.app.db.transaction() as session:
        row = session.scalar(select(Suppression).where(Suppression.email == email))
        if row is None:
            raise click.ClickException(f"{email} is not suppressed")
        session.delete(row)
        held = [
            item.id
            for item in session.scalars(
                select(OutboxItem)
                .where(OutboxItem.state == OutboxState.SUPPRESSED)
                .order_by(OutboxItem.id.desc())
                .limit(500)
            )
            if email in (r.lower() for r in item.recipients)
            and f"{email}: suppressed" in (item.last_error or "")
        ]
    click.echo(f"{email}: suppression lifted")
    held.reverse()
    if held:
        ids = " ".join(str(i) for i in held)
        click.echo(
            f"held back while suppressed: outbox {ids} (resend: postdesk outbox retry {ids})"
        )
