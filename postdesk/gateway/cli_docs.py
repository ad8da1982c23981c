"""``postdesk message-client`` and ``postdesk docs``: staff-initiated conversations and document
requests from the command line. The mail is queued in the outbox; ``postdesk serve`` sends it."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import select

from postdesk.gateway.cli_context import Context, pass_ctx
from postdesk.store.models import Agent, Ticket
from postdesk.store.workflow import WorkflowError


def _agent(session, email: str | None) -> Agent | None:  # type: ignore[no-untyped-def]
    if not email:
        return None
    agent = session.scalar(select(Agent).where(Agent.email == email.strip().lower()))
    if agent is None or not agent.active:
        raise click.ClickException(f"no active agent {email}")
    return agent


def _read_body(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise click.ClickException(f"{path} is not UTF-8 text") from None


@click.command("message-client")
@click.option("--to", "to", required=True, help="The client's address ('Ana <ana@x.example>').")
@click.option("--subject", required=True, help="Subject of the conversation.")
@click.option(
    "--body-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True, allow_dash=False),
    help="The message (UTF-8 text); optional when documents are requested.",
)
@click.option("--agent", "agent_email", help="The agent who writes (and owns the conversation).")
@click.option(
    "--request-doc", "docs", multiple=True, help="A document to ask for (repeat for several)."
)
@pass_ctx
def message_client(
    c: Context,
    to: str,
    subject: str,
    body_file: Path | None,
    agent_email: str | None,
    docs: tuple[str, ...],
) -> None:
    """Start a conversation with a client: a Conversation ticket and a mail they can answer.
    With --request-doc it is a document request; their reply with attachments fills it."""
    from postdesk.gateway.conversations import start_conversation

    body = _read_body(body_file) if body_file else ""
    now = c.app.clock()
    try:
        with c.app.db.transaction() as s:
            ticket = start_conversation(
                s,
                c.app,
                agent=_agent(s, agent_email),
                to=to,
                subject=subject,
                body=body,
                documents=docs,
                origin="agent",
                now=now,
            )
            number, requester = ticket.id, ticket.requester
            email = requester.email if requester else to
    except WorkflowError as exc:
        raise click.ClickException(str(exc)) from None
    what = f", requesting {len(docs)} document(s)" if docs else ""
    click.echo(f"conversation #{number} with {email}{what}; the mail is queued")


@click.group()
def docs() -> None:
    """Documents requested from clients: ask for them on a ticket, see what arrived."""


@docs.command("request")
@click.argument("ticket", type=click.IntRange(1, 2**62))
@click.argument("names", nargs=-1, required=True)
@click.option("--agent", "agent_email", help="The agent who asks (told when they arrive).")
@click.option("--note", default="", help="A sentence for the client above the list.")
@pass_ctx
def docs_request(
    c: Context, ticket: int, names: tuple[str, ...], agent_email: str | None, note: str
) -> None:
    """Ask the client of TICKET for the documents NAMES (quote names with spaces)."""
    from postdesk.rules.document_flow import request_documents

    now = c.app.clock()
    try:
        with c.app.db.transaction() as s:
            t = s.get(Ticket, ticket, with_for_update={"of": Ticket})
            if t is None:
                raise click.ClickException(f"no ticket #{ticket}")
            agent = _agent(s, agent_email)
            request = request_documents(
                s,
                ident=c.app.pipeline.ident,
                renderer=c.app.renderer,
                ticket=t,
                names=names,
                agent=agent,
                actor=agent.email if agent else "cli",
                support=c.app.support.known(),
                now=now,
                note=note,
            )
            count = len(request.documents)
    except WorkflowError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"requested {count} document(s) on #{ticket}; the mail is queued")


@docs.command("list")
@click.argument("ticket", type=click.IntRange(1, 2**62))
@pass_ctx
def docs_list(c: Context, ticket: int) -> None:
    """The documents requested on TICKET: requested or received, with the file that came."""
    from postdesk.store.documents import document_rows

    with c.app.db.sessions() as s:
        if s.get(Ticket, ticket) is None:
            raise click.ClickException(f"no ticket #{ticket}")
        rows = document_rows(s, ticket)
    if not rows:
        click.echo(f"no documents requested on #{ticket}")
    for r in rows:
        when = (r.received_at or r.requested_at).strftime("%Y-%m-%d %H:%M")
        got = f"{r.filename} (attachment {r.attachment_id})" if r.attachment_id else "-"
        click.echo(f"{r.state:<9} {r.name[:40]:<40} {when}  {got}  asked by {r.requested_by}")
