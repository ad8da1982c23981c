"""Document requests end to end over SMTP: the real gateway, a capturing relay, a controllable
clock, on SQLite and PostgreSQL.

An agent asks a client for two documents in a new conversation; the client answers without
them (the request stays open, the client is told what is missing), their mailbox sends a
vacation notice with a file (it fills nothing, gets no answer), the reminder comes after the
configured days (once), the client sends the files (both filled, the agent told), and no
reminder follows.
"""

from __future__ import annotations

import asyncio
import email.policy
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from sqlalchemy import func, select

from postdesk.clock import FakeClock
from postdesk.gateway.app import App
from postdesk.gateway.conversations import start_conversation
from postdesk.gateway.serve import Gateway
from postdesk.gateway.settings import Settings
from postdesk.rules.timed import run_time_rules
from postdesk.store.document_models import DocumentRequest, RequestedDocument
from postdesk.store.enums import TicketType
from postdesk.store.models import Agent, Attachment, AuditEntry, Notification, OutboxItem, Ticket
from tests.support import with_settings
from tests.support.mail import smtp_send
from tests.support.relay import Captured, CapturingRelay

CLIENT = "ana@client.example"
AGENT = "carla@example.com"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class Running:
    app: App
    gateway: Gateway
    relay: CapturingRelay
    clock: FakeClock

    async def send(self, raw: bytes, rcpt: str, mail_from: str = CLIENT) -> None:
        await asyncio.to_thread(smtp_send, self.gateway.smtp_port, raw, mail_from, [rcpt])

    def count(self, model: type, *where) -> int:  # type: ignore[no-untyped-def]
        with self.app.db.sessions() as s:
            return s.scalar(select(func.count()).select_from(model).where(*where)) or 0

    async def mail_to(self, rcpt: str, count: int) -> list[Captured]:
        """Wait for ``count`` relayed mails to ``rcpt`` (and fail if more came)."""
        self.gateway.outbox_wake.set()
        for _ in range(100):
            got = [m for m in self.relay.messages if rcpt in m.rcpt_tos]
            if len(got) >= count:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)  # one more would have arrived by now
        got = [m for m in self.relay.messages if rcpt in m.rcpt_tos]
        assert len(got) == count, [m.message["Subject"] for m in got]
        return got

    def tick(self) -> list[int]:
        """The time-based job at the clock's moment, twice: the second run sends nothing."""
        first = run_time_rules(self.app.db, self.app.settings, self.clock())
        again = run_time_rules(self.app.db, self.app.settings, self.clock())
        assert again.document_reminders == [] and again.total == 0
        self.gateway.outbox_wake.set()
        return first.document_reminders


@pytest.fixture
async def running(settings: Settings) -> AsyncIterator[Running]:
    relay = await CapturingRelay().start()
    settings = with_settings(
        settings,
        relay_url=f"smtp://127.0.0.1:{relay.port}",
        document_reminder_days=3,
        document_reminder_max=2,
    )
    clock = FakeClock(T0)
    app = App(settings, clock=clock)
    with app.db.transaction() as s:
        s.add(Agent(email=AGENT, name="Carla"))
    gateway = Gateway(app)
    await gateway.start()
    try:
        yield Running(app, gateway, relay, clock)
    finally:
        await gateway.stop()
        await relay.stop()
        app.close()


def reply(
    parent: EmailMessage,
    body: str,
    files: dict[str, bytes] | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """The client's answer to ``parent``, as a mail client builds it (CRLF, attachments)."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = f"Ana <{CLIENT}>"
    msg["To"] = parent["Reply-To"]
    msg["Subject"] = "Re: " + parent["Subject"]
    msg["Message-ID"] = make_msgid(domain="client.example")
    msg["In-Reply-To"] = parent["Message-ID"]
    msg["References"] = f"{parent['References'] or ''} {parent['Message-ID']}".strip()
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body + "\n\n> " + parent.get_body(("plain",)).get_content()[:200])
    for filename, data in (files or {}).items():
        msg.add_attachment(data, maintype="application", subtype="pdf", filename=filename)
    return msg.as_bytes()


def text_of(captured: Captured) -> str:
    return captured.message.get_body(("plain",)).get_content()


async def test_document_request_over_smtp(running: Running) -> None:
    app = running.app
    with app.db.transaction() as s:
        agent = s.scalars(select(Agent)).one()
        ticket = start_conversation(
            s,
            app,
            agent=agent,
            to=f"Ana <{CLIENT}>",
            subject="Your mortgage application",
            body="To go on with your application we need two documents.",
            documents=["Passport", "Proof of address"],
            now=running.clock(),
        )
        number = ticket.id
    # 1. The request: from Carla at Support, answerable, threaded, not automatic.
    [request] = await running.mail_to(CLIENT, 1)
    head = request.message
    assert head["Subject"].startswith(f"[#{number}]") and "mortgage" in head["Subject"]
    assert head["Reply-To"].startswith(f"support+{number}-")
    assert head["From"].startswith("Carla at Example Support")
    assert head["Auto-Submitted"] is None
    assert "- Passport" in text_of(request) and "- Proof of address" in text_of(request)
    with app.db.sessions() as s:
        t = s.get(Ticket, number)
        assert t is not None and t.type == TicketType.CONVERSATION and t.status == "pending"

    # 2. A reply without attachments: still open, the client is told what is missing.
    running.clock.advance(hours=1)
    await running.send(reply(head, "I will look for them tonight."), head["Reply-To"])
    [_, missing] = await running.mail_to(CLIENT, 2)
    assert missing.message["Auto-Submitted"] == "auto-generated"
    assert missing.message["In-Reply-To"] is not None
    assert "Passport" in text_of(missing) and "Proof of address" in text_of(missing)
    assert running.count(RequestedDocument, RequestedDocument.received_at.is_not(None)) == 0
    assert running.count(Ticket) == 1  # the reply threaded into the conversation

    # 3. An auto-reply carrying a file fills nothing and gets no answer.
    running.clock.advance(hours=1)
    vacation = reply(
        head,
        "I am on holiday until Monday.",
        {"passport.pdf": b"%PDF-1.4 not really"},
        headers={"Auto-Submitted": "auto-replied"},
    )
    await running.send(vacation, head["Reply-To"])
    await running.mail_to(CLIENT, 2)
    assert running.count(RequestedDocument, RequestedDocument.received_at.is_not(None)) == 0

    # 4. Three days on: one reminder; the same moment again sends nothing more.
    running.clock.advance(days=3)
    with app.db.sessions() as s:
        request_id = s.scalars(select(DocumentRequest.id)).one()
    assert running.tick() == [request_id]
    [*_, reminder] = await running.mail_to(CLIENT, 3)
    assert "Reminder" in reminder.message["Subject"]
    assert reminder.message["Reply-To"].startswith(f"support+{number}-")
    assert "- Passport" in text_of(reminder)

    # 5. The files arrive: one named after its document, one not (filled in order).
    running.clock.advance(hours=2)
    files = {"proof_of_address.pdf": b"%PDF-1.4 bill", "IMG_2231.pdf": b"%PDF-1.4 passport"}
    await running.send(reply(head, "Here they are.", files), head["Reply-To"])
    await running.mail_to(CLIENT, 3)  # nothing is missing: no automatic answer
    # Carla heard of the first reply (the policy); of this one, once: "Document received"
    # stands in for the policy's "client replied" about the same message.
    to_agent = [text_of(m) for m in await running.mail_to(AGENT, 2)]
    told = [t for t in to_agent if "Document received" in t]
    assert (
        len(told) == 1
        and "Document received" not in to_agent[0]
        and "received Passport (IMG_2231.pdf), Proof of address (proof_of_address.pdf)" in told[0]
    )
    with app.db.sessions() as s:
        rows = s.execute(
            select(RequestedDocument.name, Attachment.filename)
            .join(Attachment, Attachment.id == RequestedDocument.attachment_id)
            .order_by(RequestedDocument.position)
        ).all()
        assert [tuple(r) for r in rows] == [
            ("Passport", "IMG_2231.pdf"),
            ("Proof of address", "proof_of_address.pdf"),
        ]
        req = s.get(DocumentRequest, request_id)
        assert req is not None and req.fulfilled_at == running.clock()
        kinds = set(s.scalars(select(Notification.kind)))
        assert "document" in kinds
        actions = list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    for action in ("document_requested", "document_reminder", "document_received"):
        assert action in actions
    assert actions.count("document_received") == 2

    # 6. Days later: nothing is open, so no reminder.
    running.clock.advance(days=4)
    assert running.tick() == []
    await running.mail_to(CLIENT, 3)
    assert running.count(OutboxItem, OutboxItem.kind == "document_reminder") == 1
