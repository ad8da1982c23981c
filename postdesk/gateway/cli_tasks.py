"""``postdesk tasks``: a ticket's linked and follow-up tasks; ``postdesk tickets time``."""

from __future__ import annotations

import click
from sqlalchemy import select

from postdesk.gateway.cli_context import Context, pass_ctx
from postdesk.gateway.cli_views import tickets
from postdesk.store.estimates import estimate_of, record_actual
from postdesk.store.models import Agent, Ticket
from postdesk.store.task_models import TicketTask
from postdesk.store.tasks import add_task, parse_due, set_task_state, ticket_tasks
from postdesk.store.workflow import WorkflowError

BY_HELP = "Who does it, for the ticket's history (an agent's address)."


@click.group()
def tasks() -> None:
    """Tasks of a ticket: links to other tools' tasks, and internal follow-ups."""


@tasks.command("add")
@click.argument("ticket", type=int)
@click.option("--title", required=True, help="What the task is.")
@click.option("--url", help="A link (http/https) to the task in another tool.")
@click.option("--state", default="open", show_default=True)
@click.option("--assignee", help="The agent who follows up (their address).")
@click.option("--due", help="Due date, YYYY-MM-DD.")
@click.option("--by", "actor", default="cli", show_default=True, help=BY_HELP)
@pass_ctx
def tasks_add(
    c: Context,
    ticket: int,
    title: str,
    url: str | None,
    state: str,
    assignee: str | None,
    due: str | None,
    actor: str,
) -> None:
    """Link a task (with --url) or add a follow-up to TICKET."""
    try:
        with c.app.db.transaction() as s:
            t = _ticket(s, ticket)
            agent = None
            if assignee:
                agent = s.scalar(select(Agent).where(Agent.email == assignee.strip().lower()))
                if agent is None:
                    raise click.ClickException(f"no agent {assignee}")
            task = add_task(
                s,
                t,
                title=title,
                url=url,
                state=state,
                assignee=agent,
                due_on=parse_due(due),
                actor=actor,
                now=c.app.clock(),
            )
            click.echo(f"task {task.id} added to #{ticket}")
    except WorkflowError as exc:
        raise click.ClickException(str(exc)) from None


@tasks.command("list")
@click.argument("ticket", type=int)
@pass_ctx
def tasks_list(c: Context, ticket: int) -> None:
    """TICKET's tasks, oldest first."""
    with c.app.db.sessions() as s:
        _ticket(s, ticket)
        rows = ticket_tasks(s, ticket)
        if not rows:
            click.echo("no tasks")
        for task in rows:
            extra = [task.url or "follow-up"]
            if task.assignee is not None:
                extra.append(task.assignee.email)
            if task.due_on is not None:
                extra.append(f"due {task.due_on.isoformat()}")
            click.echo(f"{task.id:<6} {task.state:<10} {task.title}  ({', '.join(extra)})")


@tasks.command("done")
@click.argument("task_id", type=int)
@click.option("--by", "actor", default="cli", show_default=True, help=BY_HELP)
@pass_ctx
def tasks_done(c: Context, task_id: int, actor: str) -> None:
    """Mark task TASK_ID done."""
    try:
        with c.app.db.transaction() as s:
            task = s.get(TicketTask, task_id)
            if task is None:
                raise click.ClickException(f"no task {task_id}")
            changed = set_task_state(s, task, "done", actor=actor, now=c.app.clock())
            click.echo(f"task {task_id} done" if changed else f"task {task_id} was already done")
    except WorkflowError as exc:
        raise click.ClickException(str(exc)) from None


@tickets.command("time")
@click.argument("ticket", type=int)
@click.argument("minutes")
@click.option("--by", "actor", default="cli", show_default=True, help=BY_HELP)
@pass_ctx
def tickets_time(c: Context, ticket: int, minutes: str, actor: str) -> None:
    """Record the MINUTES of work TICKET took (calibrates later estimates)."""
    try:
        with c.app.db.transaction() as s:
            t = _ticket(s, ticket)
            row = record_actual(s, t, minutes, actor=actor, now=c.app.clock())
            est = estimate_of(s, ticket)
            suggested = (
                f" (suggested {est.suggested_minutes})" if est and est.suggested_minutes else ""
            )
            click.echo(f"#{ticket}: {row.actual_minutes} min spent{suggested}")
    except WorkflowError as exc:
        raise click.ClickException(str(exc)) from None


def _ticket(session, number: int) -> Ticket:  # type: ignore[no-untyped-def]
    t = session.get(Ticket, number)
    if t is None:
        raise click.ClickException(f"no ticket #{number}")
    return t  # type: ignore[no-any-return]
