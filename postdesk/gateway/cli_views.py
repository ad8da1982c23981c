"""Read-mostly CLI views: tickets, the inbox of received mail, the outbox and the local sink."""

from __future__ import annotations

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from postdesk.gateway.cli_context import Context, pass_ctx
from postdesk.outbound.outbox import record_automatic
from postdesk.store.documents import document_rows
from postdesk.store.enums import InboxState, OutboxState
from postdesk.store.estimates import estimate_of
from postdesk.store.models import AuditEntry, InboxItem, OutboxItem, Ticket
from postdesk.store.tasks import ticket_tasks
from postdesk.store.tickets import agent_by_email, thread_messages
from postdesk.store.views import ORDER, VIEWS, view_query


def _when(value) -> str:  # type: ignore[no-untyped-def]
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


@click.group()
def tickets() -> None:
    """Tickets and their threads."""


@tickets.command("list")
@click.option(
    "--view",
    type=click.Choice(list(VIEWS)),
    default="all",
    show_default=True,
    help="A queue: all, mine, open (waiting for an agent), waiting (for the client), ...",
)
@click.option("--agent", help="Whose view for mine / other_open (an agent's address).")
@click.option("--status", help="Only tickets in this status (new, open, pending, ...).")
@click.option("--limit", default=50, show_default=True)
@pass_ctx
def tickets_list(c: Context, view: str, agent: str | None, status: str | None, limit: int) -> None:
    """A view's tickets, most recently updated first."""
    with c.app.db.sessions() as session:
        agent_id = None
        if agent:
            found = agent_by_email(session, agent)
            if found is None:
                raise click.ClickException(f"no active agent {agent}")
            agent_id = found.id
        elif view == "mine":
            raise click.ClickException("--view mine needs --agent ADDRESS")
        query = view_query(view, agent_id)
        if status:
            query = query.where(Ticket.status == status)
        query = query.order_by(*ORDER).limit(limit)
        rows = list(session.scalars(query))
        if not rows:
            click.echo("no tickets")
        for t in rows:
            who = t.requester.email if t.requester else "-"
            click.echo(
                f"#{t.id:<6} {t.status:<8} {t.priority} {t.type:<12} "
                f"{_when(t.updated_at)}  {who:<30} {t.subject[:60]}"
            )


@tickets.command("show")
@click.argument("number", type=int)
@pass_ctx
def tickets_show(c: Context, number: int) -> None:
    """One ticket with its whole thread, oldest message first."""
    with c.app.db.sessions() as session:
        t = session.get(Ticket, number)
        if t is None:
            raise click.ClickException(f"no ticket #{number}")
        click.echo(f"Ticket #{t.id}: {t.subject}")
        click.echo(f"  status {t.status} · {t.priority} · {t.type} · via {t.support_address}")
        click.echo(
            f"  requester {t.requester.email if t.requester else '-'}"
            f" · assignee {t.assignee.email if t.assignee else '-'}"
            f" · created {_when(t.created_at)}"
            + (f" · follows #{t.linked_ticket_id}" if t.linked_ticket_id else "")
        )
        _show_work(session, t.id)
        for m in thread_messages(session, t.id):
            arrow = "<-" if m.direction == "in" else "->"
            label = "" if m.visibility == "public" else " [internal]"
            kind = "" if m.kind == "normal" else f" ({m.kind})"
            click.echo(
                f"\n{arrow} {_when(m.created_at)} {m.from_address}{label}{kind}"
                + (f"  [{m.thread_reason}]" if m.thread_reason else "")
            )
            click.echo(f"   Subject: {m.subject}")
            for line in (m.text_new or m.text_full).strip().splitlines()[:40]:
                click.echo(f"   {line}")
            for a in m.attachments:
                click.echo(f"   [attachment] {a.filename} ({a.content_type}, {a.size} bytes)")
        entries = list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.ticket_id == t.id)
                .order_by(AuditEntry.at, AuditEntry.id)
            )
        )
        if entries:
            click.echo("\nHistory:")
        for e in entries:
            change = f" {e.field}: {e.old_value} -> {e.new_value}" if e.field else ""
            click.echo(
                f"  {_when(e.at)} {e.actor} {e.action}{change}"
                + (f" ({e.detail})" if e.detail else "")
            )


def _show_work(session: Session, ticket_id: int) -> None:
    """The estimate, requested documents and linked tasks, above the thread."""
    est = estimate_of(session, ticket_id)
    if est is not None and est.suggested_minutes is not None:
        agreed = f" · agreed {est.agent_minutes} min" if est.agent_minutes is not None else ""
        spent = f" · spent {est.actual_minutes} min" if est.actual_minutes is not None else ""
        click.echo(
            f"  estimate {est.suggested_minutes} min ({est.confidence}){agreed}{spent}"
            f" — {est.reason}"
        )
    for d in document_rows(session, ticket_id):
        got = f"received {_when(d.received_at)} ({d.filename})" if d.received_at else "missing"
        click.echo(f"  document {d.name!r}: {got}")
    for task in ticket_tasks(session, ticket_id):
        where = f" {task.url}" if task.url else ""
        click.echo(f"  task #{task.id} [{task.state}] {task.title}{where}")


@click.group()
def inbox() -> None:
    """Received raw messages and what became of them."""


@inbox.command("list")
@click.option("--state", type=click.Choice([s.value for s in InboxState]))
@click.option("--limit", default=50, show_default=True)
@pass_ctx
def inbox_list(c: Context, state: str | None, limit: int) -> None:
    """The newest received messages first, with their state and error."""
    with c.app.db.sessions() as session:
        query = select(InboxItem).order_by(InboxItem.id.desc()).limit(limit)
        if state:
            query = query.where(InboxItem.state == state)
        rows = list(session.scalars(query))
        if not rows:
            click.echo("inbox is empty")
        for r in rows:
            ticket = f"#{r.ticket_id}" if r.ticket_id else "-"
            click.echo(
                f"{r.id:<6} {r.state:<9} {_when(r.received_at)} {r.source:<8} "
                f"{ticket:<7} {r.sender[:40]:<40} {r.classification or ''}"
            )
            if r.error:
                click.echo(f"       {r.error[:300]}")


@inbox.command("retry")
@click.argument("inbox_ids", type=int, nargs=-1)
@click.option("--all-failed", is_flag=True, help="Retry every failed row.")
@pass_ctx
def inbox_retry(c: Context, inbox_ids: tuple[int, ...], all_failed: bool) -> None:
    """Process failed (or stuck) inbox rows again."""
    ids = list(inbox_ids)
    if all_failed:
        with c.app.db.sessions() as session:
            ids += list(
                session.scalars(select(InboxItem.id).where(InboxItem.state == InboxState.FAILED))
            )
    if not ids:
        raise click.UsageError("name inbox ids, or pass --all-failed")
    failures = 0
    for inbox_id in ids:
        result = c.app.pipeline.process(inbox_id)
        if result.state == "skipped":
            click.echo(f"{inbox_id}: nothing to do (not failed or received)")
        elif result.state == "failed":
            failures += 1
            click.echo(f"{inbox_id}: failed again: {result.reason}")
        else:
            ticket = f" ticket #{result.ticket_id}" if result.ticket_id else ""
            click.echo(f"{inbox_id}: {result.action}{ticket} ({result.reason})")
    if failures:
        raise SystemExit(1)


@click.group()
def outbox() -> None:
    """Outgoing mail waiting, sent or failed."""


@outbox.command("list")
@click.option("--state", type=click.Choice([s.value for s in OutboxState]))
@click.option("--limit", default=50, show_default=True)
@pass_ctx
def outbox_list(c: Context, state: str | None, limit: int) -> None:
    with c.app.db.sessions() as session:
        query = select(OutboxItem).order_by(OutboxItem.id.desc()).limit(limit)
        if state:
            query = query.where(OutboxItem.state == state)
        rows = list(session.scalars(query))
        if not rows:
            click.echo("outbox is empty")
        for r in rows:
            click.echo(
                f"{r.id:<6} {r.state:<9} {r.kind:<12} #{r.ticket_id or '-':<6} "
                f"tries {r.attempts:<2} {', '.join(r.recipients)[:40]:<40} {r.subject[:50]}"
            )
            if r.last_error:
                click.echo(f"       {r.last_error[:300]}")


@outbox.command("retry")
@click.argument("outbox_ids", type=int, nargs=-1, required=True)
@pass_ctx
def outbox_retry(c: Context, outbox_ids: tuple[int, ...]) -> None:
    """Put failed rows back in the queue; the running gateway sends them."""
    with c.app.db.transaction() as session:
        for row in session.scalars(select(OutboxItem).where(OutboxItem.id.in_(outbox_ids))):
            if row.automatic and row.state == OutboxState.SUPPRESSED:  # never counted: now it is
                record_automatic(session, row.id, row.recipients, c.app.clock())
            row.state, row.attempts, row.next_attempt_at = OutboxState.PENDING, 0, c.app.clock()
            click.echo(f"{row.id}: queued again")


@click.group()
def sink() -> None:
    """The local Maildir that holds outgoing mail when no relay is configured."""


@sink.command("list")
@pass_ctx
def sink_list(c: Context) -> None:
    from postdesk.outbound.transport import list_sink

    entries = list_sink(c.settings.sink_dir)
    if not entries:
        click.echo(f"no mail in {c.settings.sink_dir}")
    for e in entries:
        click.echo(f"{e.key}  to {e.to:<30} {e.subject}")


@sink.command("show")
@click.argument("key")
@pass_ctx
def sink_show(c: Context, key: str) -> None:
    from postdesk.outbound.transport import read_sink_message

    try:
        click.echo(read_sink_message(c.settings.sink_dir, key).decode("utf-8", "replace"))
    except KeyError:
        raise click.ClickException(f"no message {key} in the sink") from None
