"""Mail from staff: who is an agent, and what their mail to a ticket does.

A mail is an agent's when its From names an active agent and it passes the configured sender
check (``inbound.sender_auth``). Such mail to an existing ticket — by the signed agent, note
or reply address, or by In-Reply-To/References to any of the ticket's messages or our
notifications — is staff mail: its commands are applied, then its text becomes an internal
note (``#note``, the note address, an answer to a note) or a public reply to the client. It
never reopens a ticket, never makes the agent a participant, never moves pending to open.

A From naming an agent that fails the check is an outside sender: stored as an ordinary
client message, no commands, nothing sent for it, and the agents are warned.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from postdesk.gateway.agent_commands_apply import apply_commands, plan_commands, refuse
from postdesk.gateway.agent_reply import (
    ReplyContext,
    direct_recipients,
    record_direct_reply,
    replies_to_internal,
    send_public_reply,
    store_note,
)
from postdesk.gateway.settings import Settings
from postdesk.inbound.agent_commands import CommandError, parse_commands
from postdesk.inbound.message import InboundMessage
from postdesk.inbound.sender_auth import SenderCheck, verify_sender
from postdesk.outbound.agent_notify import Notice, notify_agents
from postdesk.outbound.public_reply import quotes_internal
from postdesk.rules.engine import event_for
from postdesk.rules.fire import fire
from postdesk.store.audit_log import audit, savepoint
from postdesk.store.enums import TicketType
from postdesk.store.models import Agent, InboxItem, Message, Ticket
from postdesk.store.tickets import agent_by_email
from postdesk.store.workflow import WorkflowError
from postdesk.threading.decide import ThreadDecision

QUOTES_NOTE = (
    "it contains the text of an internal note, which must not reach the client; remove the "
    "quoted note and send your reply again (or start it with #note to keep it internal)"
)


@dataclass(frozen=True, slots=True)
class AgentSender:
    agent: Agent | None  # the active agent the From names, verified or not
    check: SenderCheck | None = None

    @property
    def verified(self) -> bool:
        return self.agent is not None and self.check is not None and self.check.verified

    @property
    def forged(self) -> bool:
        return self.agent is not None and not self.verified


def identify(
    session: Session, inbound: InboundMessage, row: InboxItem, settings: Settings
) -> AgentSender:
    sender = inbound.from_addr.email if inbound.from_addr else ""
    agent = agent_by_email(session, sender) if sender else None
    if agent is None:
        return AgentSender(None)
    check = verify_sender(
        sender,
        inbound.headers,
        mode=settings.agent_verification,
        authserv_ids=settings.authserv_id,
        authenticated=row.authenticated,
    )
    return AgentSender(agent, check)


def handle_agent_mail(
    ctx: ReplyContext,
    sender: AgentSender,
    inbound: InboundMessage,
    row: InboxItem,
    decision: ThreadDecision,
    kind: str,
) -> str:
    """Staff mail to an existing ticket; returns the reason recorded on the inbox row."""
    agent = sender.agent
    assert agent is not None and decision.ticket_id is not None
    session, now = ctx.session, ctx.now
    ticket = session.get(Ticket, decision.ticket_id, with_for_update={"of": Ticket})
    assert ticket is not None, "threading named a ticket that does not exist"
    if kind != "normal":
        # An agent's vacation notice or a bounce must never reach the client nor run commands.
        store_note(
            ctx, ticket, agent, inbound, row, decision, inbound.text_new, kind=kind, notify=False
        )
        return f"{kind} from agent {agent.email} kept internal"
    parsed = parse_commands(inbound.text_new)
    plan = plan_commands(session, parsed, ticket, agent)
    text = parsed.text.strip()
    internal = (
        parsed.internal
        or decision.purpose == "note"
        or ticket.type == TicketType.ESCALATION  # an escalation's thread is staff only
        or replies_to_internal(session, inbound)
    )
    errors = plan.errors
    if not errors and not internal and quotes_internal(session, ticket.id, text):
        errors = (CommandError("(your reply)", QUOTES_NOTE),)
    if errors:
        return refuse(
            session, ticket, agent, inbound, errors, ident=ctx.ident, renderer=ctx.renderer, now=now
        )
    try:
        # A savepoint: a command the workflow refuses only while applying (say #escalate
        # after #status closed) undoes the ones before it, and the agent is told.
        with savepoint(session):
            done, made = apply_commands(
                session, parsed, plan, ticket, agent, now=now, hierarchy=ctx.escalation
            )
    except WorkflowError as exc:
        refused = (CommandError("(your commands)", str(exc)),)
        return refuse(
            session,
            ticket,
            agent,
            inbound,
            refused,
            ident=ctx.ident,
            renderer=ctx.renderer,
            now=now,
        )
    applied = f"; commands: {', '.join(done)}" if done else ""
    if not text and not inbound.attachments:
        outcome = f"agent {agent.email} ({sender.check.reason if sender.check else ''})"
    elif internal:
        store_note(ctx, ticket, agent, inbound, row, decision, text)
        outcome = f"internal note by {agent.email}"
    elif direct := direct_recipients(session, inbound, ctx.support):
        outcome = record_direct_reply(ctx, ticket, agent, inbound, row, decision, text, direct)
    else:
        outcome = send_public_reply(ctx, ticket, agent, inbound, row, decision, text)
    # After the text: a "#status resolved" mail to the client follows the reply it closes.
    fire(
        session,
        ctx.rules,
        ticket=ticket,
        events=[event_for(c) for c in made],
        now=now,
        renderer=ctx.renderer,
        ident=ctx.ident,
    )
    return outcome + applied


def warn_forged(ctx: ReplyContext, sender: AgentSender, ticket: Ticket, message: Message) -> None:
    """A From naming an agent failed the check: record it and tell that agent and the managers."""
    agent = sender.agent
    assert agent is not None
    reason = sender.check.reason if sender.check else "not verified"
    detail = f"From {agent.email} not verified: {reason}"
    audit(ctx.session, ticket.id, "system", "sender_unverified", detail=detail[:2000], at=ctx.now)
    managers = list(
        ctx.session.scalars(
            select(Agent).where(Agent.active.is_(True), Agent.role.in_(("manager", "admin")))
        )
    )
    notify_agents(
        ctx.session,
        ident=ctx.ident,
        renderer=ctx.renderer,
        ticket=ticket,
        agents=[agent, *managers],
        notice=Notice(
            "forged_sender",
            f"Mail claiming to be from {agent.email} failed sender verification ({reason}); "
            "it was stored as an outside message and nothing was sent for it",
        ),
        now=ctx.now,
        message=message,
    )
