"""What a configured rule does: each action acts through ``changes``, the outbox or notify.

Every store change goes through ``postdesk.store.changes`` (audited) and queues its rules
event; a refusal by the workflow (e.g. a rule may not replace a manual assignment) is
recorded on the ticket and does not stop the other actions or the message's ingestion.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from postdesk.outbound.agent_notify import Notice, notify_agents
from postdesk.outbound.public_reply import client_recipients
from postdesk.outbound.ticket_mail import send_ticket_mail
from postdesk.rules import assignment, recipients
from postdesk.rules.document_flow import request_documents
from postdesk.rules.escalation import escalate, escalation_ticket_for
from postdesk.rules.schema import Action, Policy
from postdesk.store import changes
from postdesk.store.audit_log import audit
from postdesk.store.documents import open_requests
from postdesk.store.enums import Status, TicketType
from postdesk.store.models import Agent, Ticket
from postdesk.store.tickets import agent_by_email
from postdesk.store.workflow import WorkflowError

if TYPE_CHECKING:
    from postdesk.rules.engine import RuleContext


def run_action(
    action: Action,
    ctx: RuleContext,
    *,
    rule: str,
    description: str,
    policy: Policy,
    on_call: str | None,
) -> str:
    """Carry out one action; returns what it did, in words (for the audit and dry runs)."""
    actor = f"rule:{rule}"
    try:
        return _run(action, ctx, actor, rule, description, policy, on_call)
    except WorkflowError as exc:
        note = f"{rule}: {action.kind} refused: {exc}"
        audit(ctx.session, ctx.ticket.id, actor, "rule_refused", detail=note, at=ctx.now)
        return note


def _run(
    action: Action,
    ctx: RuleContext,
    actor: str,
    rule: str,
    description: str,
    policy: Policy,
    on_call: str | None,
) -> str:
    t, s, now = ctx.ticket, ctx.session, ctx.now
    if action.assign is not None:
        a = action.assign
        agent: Agent | None
        if a.agent is not None:
            agent = agent_by_email(s, a.agent)
            agent = agent if assignment.available(agent) else None
        else:
            agent = assignment.pick(s, t, a.strategy or "csm", team=a.team, now=now)
            if agent is None and a.fallback is not None:
                team = a.team or recipients.ticket_team(t, policy)
                agent = assignment.pick(s, t, a.fallback, team=team, now=now)
        if agent is None:
            return "assign: nobody available"
        if t.assignee_id is not None and t.assigned_by and not t.assigned_by.startswith("rule:"):
            return (
                f"assign: kept the manual assignment to {t.assignee.email if t.assignee else '?'}"
            )
        ctx.changed(changes.assign(s, t, agent, actor=actor, now=now, detail=description or None))
        return f"assign to {agent.email}"
    if action.set is not None:
        done = []
        for key, value in action.set.items():
            if key == "status":
                change = changes.set_status(s, t, value, actor=actor, now=now)
            elif key == "priority":
                change = changes.set_priority(s, t, value, actor=actor, now=now)
            elif key == "type":
                change = changes.set_type(s, t, value, actor=actor, now=now)
            else:
                change = changes.set_field(
                    s, t, key.removeprefix("fields."), value, actor=actor, now=now
                )
            ctx.changed(change)
            done.append(f"{key}={value}")
        return "set " + ", ".join(done)
    if action.add_tag is not None:
        changes.add_tag(s, t, action.add_tag, actor=actor, now=now)
        return f"tag {action.add_tag}"
    if action.reply is not None:
        return _reply(ctx, action.reply.template, action.reply.to, rule)
    if action.notify is not None:
        n = action.notify
        agents = recipients.resolve(s, t, n.who, policy, on_call=on_call)
        seen: set[int] = ctx.facts.setdefault("notified", set())
        agents = [a for a in agents if a.id not in seen]
        target = t
        if ctx.event.name == "ticket.escalated":
            target = escalation_ticket_for(s, t) or t  # staff discuss it in the internal thread
        summary = _fill(n.summary or description or rule, t)
        told = notify_agents(
            s,
            ident=ctx.ident,
            renderer=ctx.renderer,
            ticket=target,
            agents=agents,
            notice=Notice(n.kind, summary, ctx.event.actor),
            now=now,
            message=ctx.message,
            email=n.email,
        )
        seen.update(a.id for a in told)
        return "notify " + (", ".join(a.email for a in told) or "nobody")
    if action.escalate is not None:
        raised = escalate(
            s, t, actor, now, action.escalate.type, hierarchy=policy.escalation, reason=description
        )
        ctx.changed(raised.change)
        return f"escalate to {raised.level.name} (#{raised.escalation_ticket.id})"
    if action.close is not None:
        template = action.close.get("template")
        if template:
            _reply(ctx, str(template), "requester", rule)
        ctx.changed(
            changes.set_status(
                s, t, Status.CLOSED, actor=actor, now=now, detail=description or None
            )
        )
        return "close" + (f" with {template}" if template else "")
    if action.suggest_articles is not None:
        ctx.facts["suggest_articles"] = True  # the knowledge base fills ack's "articles"
        return "suggest articles"
    assert action.request_document is not None
    return _request_documents(ctx, action.request_document, actor)


def _request_documents(ctx: RuleContext, spec: dict[str, Any], actor: str) -> str:
    """Ask the client for documents, unless the same ones are already open on the ticket
    (a rule on every message must not ask again each time)."""
    names = [str(n) for n in spec["names"]]
    if not ctx.may_auto_respond:
        return "request documents: withheld (automatic mail is off for this message)"
    asked = {
        d.name.casefold() for r in open_requests(ctx.session, ctx.ticket.id) for d in r.documents
    }
    if {n.strip().casefold() for n in names} <= asked:
        return "request documents: already requested"
    request = request_documents(
        ctx.session,
        ident=ctx.ident,
        renderer=ctx.renderer,
        ticket=ctx.ticket,
        names=names,
        agent=None,
        actor=actor,
        support=[ctx.ticket.support_address],
        now=ctx.now,
        note=str(spec.get("note", "")),
        wait=False,  # the status stays the agents' call
    )
    return f"request documents: {', '.join(d.name for d in request.documents)}"


def _reply(ctx: RuleContext, template: str, to: str, rule: str) -> str:
    t = ctx.ticket
    if t.type == TicketType.ESCALATION or t.requester is None:
        return f"reply {template}: no client to write to"
    if not ctx.may_auto_respond:
        return f"reply {template}: withheld (automatic replies are off for this message)"
    inbound = ctx.inbound
    cc: list[str] = []
    if to == "participants":  # reply-all: the requester and the client's Cc, never staff
        own = [t.support_address] if t.support_address else []
        _, cc = client_recipients(ctx.session, t, own)
    send_ticket_mail(
        ctx.session,
        ident=ctx.ident,
        renderer=ctx.renderer,
        ticket=t,
        template=template,
        kind=template[:20],  # messages.kind is short; the audit names the rule
        to=[t.requester.email],
        cc=cc,
        context={"requester_name": t.requester.name, "articles": ctx.facts.get("articles", [])},
        now=ctx.now,
        parent_message_id=inbound.message_id.lower() if inbound else None,
        parent_references=[r.lower() for r in inbound.references] if inbound else (),
        # The cap stops responder loops, which need an inbound message; mail caused by staff
        # (a ticket resolved) or by the clock is not an answer to anything.
        capped=inbound is not None,
    )
    also = f" and {', '.join(cc)}" if cc else ""
    return f"reply {template} to {t.requester.email}{also}"


def _fill(text: str, ticket: Ticket) -> str:
    """The few placeholders a summary may use; not ``str.format``, which reaches attributes."""
    values = {
        "{ticket.id}": str(ticket.id),
        "{ticket.subject}": ticket.subject,
        "{ticket.priority}": ticket.priority,
        "{ticket.status}": ticket.status,
    }
    for key, value in values.items():
        text = text.replace(key, value)
    return text
