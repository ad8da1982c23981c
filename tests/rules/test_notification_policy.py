"""The built-in notification policy, over real SMTP: who gets which mail, case by case."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from postdesk.gateway.app import App
from postdesk.gateway.serve import Gateway
from postdesk.gateway.settings import Settings
from postdesk.rules.engine import event_for
from postdesk.rules.fire import fire
from postdesk.store import changes
from postdesk.store.models import (
    Agent,
    AuditEntry,
    ClientDomain,
    ClientOrg,
    Notification,
    OutboxItem,
    Ticket,
)
from tests.support import with_settings
from tests.support.mail import client_mail, smtp_send
from tests.support.relay import CapturingRelay
from tests.support.settle import drained

RULES = """
settings:
  on_call: oncall@example.com
  escalation:
    - {name: manager, managers: true}
    - {name: it, team: it-support}
rules:
  - name: outage-is-p1
    events: [ticket.created]
    when: [{field: ticket.subject, regex: "(?i)down"}]
    then: [{set: {priority: P1}}]
  - name: complaint-escalates
    events: [message.received]
    when:
      - {field: message.from, equals: client}
      - {field: message.text, contains: "formal complaint"}
    then: [{escalate: {type: service complaint}}]
  - name: reply-all
    events: [ticket.created]
    when: [{field: ticket.subject, regex: "(?i)reply all"}]
    then: [{reply: {template: ack, to: participants}}]
  - name: answered
    events: [status.changed]
    when: [{field: event.old, equals: pending}, {field: event.new, equals: open}]
    then: [{add_tag: answered}]
"""
AGENTS = [
    ("carla@example.com", "agent", "support", False),  # Acme's CSM
    ("sam@example.com", "agent", "support", False),
    ("ann@example.com", "agent", "support", True),  # away
    ("max@example.com", "manager", None, False),
    ("oncall@example.com", "agent", "night", False),
    ("ivan@example.com", "agent", "it-support", False),
]


@dataclass
class Desk:
    app: App
    gateway: Gateway
    relay: CapturingRelay

    async def client_writes(self, subject: str, body: str, **headers: str) -> None:
        raw = client_mail(
            "Ana <ana@client.example>", "support@example.com", subject, body, **headers
        )  # type: ignore[arg-type]
        await asyncio.to_thread(
            smtp_send, self.gateway.smtp_port, raw, "ana@client.example", ["support@example.com"]
        )

    async def mail(self, count: int) -> dict[str, set[str]]:
        """Wait for ``count`` mails in all; return {kind: recipients} of what the relay got."""
        got = await self.relay.wait_for(count)
        await asyncio.sleep(0.3)  # let anything unexpected arrive too
        assert len(self.relay.messages) == count, [
            c.message["Subject"] for c in self.relay.messages
        ]
        ids = {c.message["Message-ID"].strip("<>").lower(): c.rcpt_tos for c in got}
        with self.app.db.sessions() as s:
            rows = s.scalars(select(OutboxItem).where(OutboxItem.message_id.in_(list(ids))))
            kinds: dict[str, set[str]] = {}
            for row in rows:
                kinds.setdefault(row.kind, set()).update(ids[row.message_id])
        assert sum(len(v) for v in kinds.values()) == count
        return kinds

    def ticket(self) -> Ticket:
        with self.app.db.sessions() as s:
            return s.scalars(select(Ticket).where(Ticket.type != "escalation")).one()

    def change(self, actor: str, how) -> None:  # type: ignore[no-untyped-def]
        """Make a change as staff do (agent mail, admin) and raise its rules event."""
        with self.app.db.transaction() as s:
            ticket = s.scalars(select(Ticket).where(Ticket.type != "escalation")).one()
            change = how(s, ticket)
            fire(
                s,
                self.app.rules,
                ticket=ticket,
                events=[event_for(change)],
                now=self.app.clock(),
                renderer=self.app.renderer,
                ident=self.app.pipeline.ident,
            )
        self.gateway.outbox_wake.set()


@pytest.fixture
async def desk(settings: Settings, tmp_path: Path) -> AsyncIterator[Desk]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    relay = await CapturingRelay().start()
    settings = with_settings(settings, relay_url=f"smtp://127.0.0.1:{relay.port}", rules_file=rules)
    app = App(settings)
    with app.db.transaction() as s:
        for email, role, team, away in AGENTS:
            s.add(Agent(email=email, role=role, team=team, away=away))
        s.flush()
        csm = s.scalars(select(Agent).where(Agent.email == "carla@example.com")).one()
        org = ClientOrg(name="Acme", csm_agent_id=csm.id)
        s.add(org)
        s.flush()
        s.add(ClientDomain(domain="client.example", org_id=org.id))
    gateway = Gateway(app)
    await gateway.start()
    try:
        yield Desk(app, gateway, relay)
    finally:
        await gateway.stop()
        await relay.stop()
        app.close()


async def test_new_client_ticket_tells_csm_managers_and_on_call(desk: Desk) -> None:
    await desk.client_writes("Printer jammed", "Paper everywhere")
    kinds = await desk.mail(4)
    assert kinds == {
        "ack": {"ana@client.example"},
        "notify:new_ticket": {"carla@example.com", "max@example.com", "oncall@example.com"},
    }
    ticket = desk.ticket()
    assert ticket.assignee is not None and ticket.assignee.email == "carla@example.com"
    assert ticket.assigned_by == "rule:assign-to-csm"
    with desk.app.db.sessions() as s:
        panel = set(s.scalars(select(Notification.kind).where(Notification.ticket_id == ticket.id)))
    assert panel == {"new_ticket"}  # in-app too; the CSM's "assigned" is folded into it
    with desk.app.db.sessions() as s:
        why = set(
            s.scalars(
                select(AuditEntry.detail).where(
                    AuditEntry.ticket_id == ticket.id, AuditEntry.action == "rule"
                )
            )
        )
    # the ticket's history says which rules matched and why
    assert "notify-new-ticket on ticket.created: message.from = 'client'" in why
    assert "assign-to-csm on ticket.created: message.from = 'client'" in why


async def test_p1_tells_the_whole_team_at_once(desk: Desk) -> None:
    await desk.client_writes("Tills are DOWN in 40 stores", "Nothing works")
    kinds = await desk.mail(5)
    assert kinds["notify:new_ticket"] == {
        "carla@example.com",
        "max@example.com",
        "oncall@example.com",
    }
    # the rest of the team (not the away agent, not those already told) hears it is urgent
    assert kinds["notify:urgent"] == {"sam@example.com"}
    assert desk.ticket().priority == "P1"


async def test_assigned_tells_the_assignee_never_the_actor(desk: Desk) -> None:
    await desk.client_writes("Printer jammed", "Paper everywhere")
    await desk.mail(4)
    desk.relay.messages.clear()

    def by_max(s, t):  # type: ignore[no-untyped-def]
        sam = s.scalars(select(Agent).where(Agent.email == "sam@example.com")).one()
        return changes.assign(s, t, sam, actor="max@example.com", now=desk.app.clock())

    desk.change("max@example.com", by_max)
    assert await desk.mail(1) == {"notify:assigned": {"sam@example.com"}}


async def test_client_reply_tells_the_assignee(desk: Desk) -> None:
    await desk.client_writes("Printer jammed", "Paper everywhere")
    [ack] = [
        c
        for c in await desk.mail(4) and desk.relay.messages
        if c.rcpt_tos == ["ana@client.example"]
    ]
    desk.relay.messages.clear()

    def to_sam(s, t):  # type: ignore[no-untyped-def]
        sam = s.scalars(select(Agent).where(Agent.email == "sam@example.com")).one()
        return changes.assign(s, t, sam, actor="sam@example.com", now=desk.app.clock())

    desk.change("sam@example.com", to_sam)  # sam takes it himself: nobody is told
    await desk.client_writes(
        "Re: " + ack.message["Subject"], "Still jammed", in_reply_to=ack.message["Message-ID"]
    )
    assert await desk.mail(1) == {"notify:client_reply": {"sam@example.com"}}


async def test_client_reply_tells_the_csm_when_unassigned(desk: Desk) -> None:
    await desk.client_writes("Printer jammed", "Paper everywhere")
    [ack] = [
        c
        for c in await desk.mail(4) and desk.relay.messages
        if c.rcpt_tos == ["ana@client.example"]
    ]
    desk.relay.messages.clear()
    desk.change(
        "max@example.com",
        lambda s, t: changes.assign(s, t, None, actor="max@example.com", now=desk.app.clock()),
    )
    await desk.client_writes(
        "Re: " + ack.message["Subject"], "Still jammed", in_reply_to=ack.message["Message-ID"]
    )
    assert await desk.mail(1) == {"notify:client_reply": {"carla@example.com"}}


async def test_resolved_tells_the_client_and_the_team(desk: Desk) -> None:
    await desk.client_writes("Printer jammed", "Paper everywhere")
    await desk.mail(4)
    desk.relay.messages.clear()
    desk.change(
        "carla@example.com",
        lambda s, t: changes.set_status(
            s, t, "resolved", actor="carla@example.com", now=desk.app.clock()
        ),
    )
    kinds = await desk.mail(2)
    # the requester opened it, so they hear; the team too, but not carla who resolved it
    assert kinds == {
        "resolved": {"ana@client.example"},
        "notify:resolved": {"sam@example.com"},
    }
    [resolved] = [c for c in desk.relay.messages if c.rcpt_tos == ["ana@client.example"]]
    assert resolved.message["Subject"].startswith("[#") or "Resolved" in resolved.message["Subject"]


async def test_escalation_tells_management_and_never_the_client(desk: Desk) -> None:
    await desk.client_writes("Printer jammed", "Paper everywhere")
    [ack] = [
        c
        for c in await desk.mail(4) and desk.relay.messages
        if c.rcpt_tos == ["ana@client.example"]
    ]
    desk.relay.messages.clear()
    await desk.client_writes(
        "Re: " + ack.message["Subject"],
        "This is a formal complaint.",
        in_reply_to=ack.message["Message-ID"],
    )
    kinds = await desk.mail(2)
    # client_reply to the CSM; the escalation (level 1: managers) to management
    assert kinds == {
        "notify:client_reply": {"carla@example.com"},
        "notify:escalated": {"max@example.com"},
    }
    with desk.app.db.sessions() as s:
        esc = s.scalars(select(Ticket).where(Ticket.type == "escalation")).one()
        client_ticket = s.get(Ticket, esc.linked_ticket_id)
        assert client_ticket is not None and client_ticket.escalation_level == 1
        assert esc.fields["escalation_type"] == "service complaint"
        # the escalation notification threads in the internal ticket, not the client's
        notified = s.scalars(select(OutboxItem).where(OutboxItem.kind == "notify:escalated")).one()
        assert notified.ticket_id == esc.id
        # nothing about the escalation ticket ever went to a non-agent
        for row in s.scalars(select(OutboxItem).where(OutboxItem.ticket_id == esc.id)):
            assert all(r.endswith("@example.com") for r in row.recipients)


async def test_a_client_answer_to_pending_raises_status_changed(desk: Desk) -> None:
    await desk.client_writes("Printer jammed", "Paper everywhere")
    [ack] = [
        c
        for c in await desk.mail(4) and desk.relay.messages
        if c.rcpt_tos == ["ana@client.example"]
    ]
    desk.relay.messages.clear()
    desk.change(
        "carla@example.com",
        lambda s, t: changes.set_status(
            s, t, "pending", actor="carla@example.com", now=desk.app.clock()
        ),
    )
    await desk.client_writes(
        "Re: " + ack.message["Subject"], "Here it is", in_reply_to=ack.message["Message-ID"]
    )
    assert await desk.mail(1) == {"notify:client_reply": {"carla@example.com"}}
    ticket = desk.ticket()
    assert ticket.status == "open" and "answered" in ticket.tags


async def test_a_forged_agent_from_meets_the_client_rules(desk: Desk) -> None:
    """Sam's address without verification is an outside sender: the client policy applies."""
    raw = client_mail("Sam <sam@example.com>", "support@example.com", "Wire money", "Urgent")
    await asyncio.to_thread(
        smtp_send, desk.gateway.smtp_port, raw, "sam@example.com", ["support@example.com"]
    )
    await drained(desk.app.db, 30)
    ticket = desk.ticket()
    with desk.app.db.sessions() as s:
        why = set(
            s.scalars(
                select(AuditEntry.detail).where(
                    AuditEntry.ticket_id == ticket.id, AuditEntry.action == "rule"
                )
            )
        )
        warned = s.scalar(select(AuditEntry).where(AuditEntry.action == "sender_unverified"))
    assert "notify-new-ticket on ticket.created: message.from = 'client'" in why
    assert warned is not None


async def test_a_reply_to_participants_copies_the_clients_cc_never_staff(desk: Desk) -> None:
    await desk.client_writes(
        "Reply all please", "Keep Bea in the loop", cc="Bea <bea@client.example>, sam@example.com"
    )
    await drained(desk.app.db, 30)
    acks = [c for c in desk.relay.messages if c.message["Subject"].startswith("[")]
    ccs = [c.message["Cc"] for c in acks if c.message["Cc"]]
    assert len(ccs) == 1 and "bea@client.example" in ccs[0] and "sam@" not in ccs[0]
    (copied,) = [c for c in acks if c.message["Cc"]]
    assert "bea@client.example" in copied.rcpt_tos
    # Ana already had the acknowledgement: the per-recipient cap holds back her second one
    assert sum("ana@client.example" in c.rcpt_tos for c in acks) == 1
