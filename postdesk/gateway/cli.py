"""The ``postdesk`` command: run the gateway, feed it mail, migrate, look at what it holds."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from postdesk.gateway.cli_context import Context, pass_ctx
from postdesk.gateway.cli_docs import docs, message_client
from postdesk.gateway.cli_kb import kb
from postdesk.gateway.cli_mailbox import mailbox
from postdesk.gateway.cli_rules import rules
from postdesk.gateway.cli_suppressions import suppressions
from postdesk.gateway.cli_tasks import tasks
from postdesk.gateway.cli_users import user
from postdesk.gateway.cli_views import inbox, outbox, sink, tickets
from postdesk.gateway.logs import configure_logging

EX_DATAERR = 65  # sysexits.h: a permanent failure; the MTA bounces with our stderr text
EX_TEMPFAIL = 75  # sysexits.h: the MTA keeps the message and tries again later
_READ_CHUNK = 1 << 20


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="POSTDESK_CONFIG",
    help="An env-style settings file (POSTDESK_* lines); the environment wins over it.",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.pass_context
def main(ctx: click.Context, config: Path | None, verbose: bool) -> None:
    """postdesk: an email-first ticketing gateway."""
    configure_logging(verbose=verbose)  # JSON lines once the settings ask for them
    ctx.obj = Context(config, verbose=verbose)


@main.command()
@pass_ctx
def serve(c: Context) -> None:
    """Run the gateway: SMTP listener, ingest pipeline and outbox worker."""
    from postdesk.gateway.serve import serve as run

    s = c.settings
    click.echo(
        f"postdesk: SMTP on {s.smtp_host}:{s.smtp_port} for {', '.join(s.support_addresses)}; "
        f"outgoing mail to {'the relay' if s.relay_url else s.sink_dir}; "
        + (f"admin on {s.web_host}:{s.web_port}" if s.web_enabled else "admin off")
    )
    asyncio.run(run(c.app))


@main.command()
@pass_ctx
def web(c: Context) -> None:
    """Run only the web admin and JSON API (no SMTP listener, no outbox worker)."""
    from postdesk.admin.server import start_web

    async def run() -> None:
        server = await start_web(c.app, c.settings.web_host, c.settings.web_port)
        click.echo(f"postdesk: admin on http://{c.settings.web_host}:{server.port}/admin/")
        await server.task

    asyncio.run(run())


@main.command()
@click.option("--sender", "-f", default="", help="Envelope sender (the MTA's $sender).")
@click.option("--recipient", "-r", multiple=True, help="Envelope recipient (repeatable).")
@pass_ctx
def ingest(c: Context, sender: str, recipient: tuple[str, ...]) -> None:
    """Read one message on stdin (for an MTA pipe). Exit 0 when stored, 75 to have it retried,
    65 (bounce) when it is empty or larger than POSTDESK_SMTP_MAX_MESSAGE_BYTES."""
    from postdesk.contracts import TemporaryFailure
    from postdesk.gateway.accept import process_received
    from postdesk.inbound.message import Envelope

    limit = c.settings.smtp_max_message_bytes
    raw = sys.stdin.buffer.read(limit + 1)
    if len(raw) > limit:
        # Read the rest without keeping it: an MTA that meets a closed pipe may report a
        # write error instead of our answer.
        size = len(raw) + _drain(sys.stdin.buffer)
        click.echo(
            f"postdesk ingest: 5.3.4 message too big: {size} bytes, the limit is {limit} "
            "(POSTDESK_SMTP_MAX_MESSAGE_BYTES)",
            err=True,
        )
        sys.exit(EX_DATAERR)
    if raw.isspace() or not raw:
        click.echo("postdesk ingest: empty message on stdin", err=True)
        sys.exit(EX_DATAERR)  # retrying will not help
    rcpts = tuple(r.lower() for r in recipient) or tuple(c.settings.support_addresses[:1])
    envelope = Envelope(mail_from=sender, rcpt_to=rcpts, source="ingest")
    try:
        # The two steps of App.accept's fallback, with our copy dropped once stored: the
        # pipeline reads the blob back, so a big message (up to the limit) is held once.
        received = c.app.receive(raw, envelope)
        del raw
        accepted = process_received(
            c.app.pipeline, received, defer_attempts=c.settings.smtp_defer_failed_attempts
        )
    except TemporaryFailure as exc:
        click.echo(f"postdesk ingest: {exc}", err=True)
        sys.exit(EX_TEMPFAIL)
    except Exception as exc:
        click.echo(f"postdesk ingest: could not store the message: {exc}", err=True)
        sys.exit(EX_TEMPFAIL)
    r = accepted.received
    click.echo(
        f"inbox #{r.inbox_id}: {r.outcome}"
        + (
            f", ticket #{accepted.processed.ticket_id}"
            if accepted.processed and accepted.processed.ticket_id
            else ""
        )
    )


def _drain(stream) -> int:  # type: ignore[no-untyped-def]
    total = 0
    while chunk := stream.read(_READ_CHUNK):
        total += len(chunk)
    return total


@main.group()
def db() -> None:
    """Database schema."""


@db.command()
@pass_ctx
def upgrade(c: Context) -> None:
    """Apply migrations up to the newest schema (run once per deployment, not per process)."""
    from postdesk.store import migrate
    from postdesk.store.db import Database

    c.settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(c.settings.resolved_database_url)
    try:
        migrate.upgrade(database)
        click.echo(f"database at revision {migrate.current(database)}")
    finally:
        database.dispose()


@db.command()
@pass_ctx
def current(c: Context) -> None:
    """Print the schema revision of the database."""
    from postdesk.store import migrate
    from postdesk.store.db import Database

    database = Database(c.settings.resolved_database_url)
    try:
        click.echo(migrate.current(database) or "(empty database: run `postdesk db upgrade`)")
    finally:
        database.dispose()


@main.command()
@pass_ctx
def settings(c: Context) -> None:
    """Print the effective settings (secrets hidden)."""
    for name, value in c.settings.model_dump().items():
        shown = (
            "**********"
            if name.endswith("key") or name.endswith("keys") or (name == "relay_url" and value)
            else value
        )
        click.echo(f"POSTDESK_{name.upper()}={shown}")


for _group in (tickets, inbox, outbox, sink, mailbox, kb, user, suppressions, rules, tasks, docs):
    main.add_command(_group)
main.add_command(message_client)
