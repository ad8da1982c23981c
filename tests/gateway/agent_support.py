"""A running gateway with two agents, a capturing relay, and mail as agents' clients send it."""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest
from sqlalchemy import func, select

from postdesk.gateway.app import App
from postdesk.gateway.serve import Gateway
from postdesk.gateway.settings import Settings
from postdesk.outbound.agent_notify import Notice, notify_agents
from postdesk.store.enums import OutboxState
from postdesk.store.models import Agent, OutboxItem, Ticket
from tests.support import with_settings
from tests.support.mail import smtp_send
from tests.support.relay import Captured, CapturingRelay

AUTHSERV = "mx.ourdesk.example"
ALICE = "alice@staff.example"
BOB = "bob@staff.example"
PASS = (
    f"{AUTHSERV}; dkim=pass header.d=staff.example header.s=mail;"
    " spf=pass smtp.mailfrom=staff.example"
)


@dataclass
class Desk:
    app: App
    gateway: Gateway
    relay: CapturingRelay

    async def send(self, raw: bytes, rcpts: list[str], mail_from: str) -> None:
        await asyncio.to_thread(smtp_send, self.gateway.smtp_port, raw, mail_from, rcpts)

    async def wait_total(self, total: int) -> list[Captured]:
        self.gateway.outbox_wake.set()
        return (await self.relay.wait_for(total))[:total]

    async def settle(self, timeout: float = 10.0) -> list[Captured]:
        """Wait until every outbox row is sent and captured; returns everything captured."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            pending = self.count(OutboxItem, OutboxItem.state == OutboxState.PENDING)
            sent = self.count(OutboxItem, OutboxItem.state == OutboxState.SENT)
            if pending == 0 and len(self.relay.messages) >= sent:
                return list(self.relay.messages)
            if loop.time() > deadline:
                raise AssertionError(f"{pending} outbox rows still pending")
            self.gateway.outbox_wake.set()
            await asyncio.sleep(0.05)

    def count(self, model: type, *where) -> int:  # type: ignore[no-untyped-def]
        with self.app.db.sessions() as s:
            return s.scalar(select(func.count()).select_from(model).where(*where)) or 0

    def notify(self, ticket_id: int, agent_email: str, kind: str = "new_ticket") -> None:
        """What the rules will do: send an agent an answerable notification."""
        with self.app.db.transaction() as s:
            ticket = s.get(Ticket, ticket_id)
            agent = s.scalar(select(Agent).where(Agent.email == agent_email))
            assert ticket is not None and agent is not None
            notify_agents(
                s,
                ident=self.app.pipeline.ident,
                renderer=self.app.renderer,
                ticket=ticket,
                agents=[agent],
                notice=Notice(kind, "something happened"),
                now=self.app.clock(),
            )
        self.gateway.outbox_wake.set()


@contextlib.asynccontextmanager
async def running_desk(settings: Settings, **changes: Any) -> AsyncIterator[Desk]:
    """The gateway with agents Alice (agent) and Bob (manager) and a capturing relay."""
    relay = await CapturingRelay().start()
    # Only the acknowledgement: the notification policy's mail (tests/rules) would interleave
    # with the messages these tests count.
    quiet = settings.data_dir.parent / "ack-only-rules.yaml"
    quiet.write_text("defaults: false\nrules: []\n")
    settings = with_settings(
        settings,
        **(
            {
                "relay_url": f"smtp://127.0.0.1:{relay.port}",
                "authserv_id": [AUTHSERV],
                "rules_file": quiet,
            }
            | changes
        ),
    )
    app = App(settings)
    with app.db.transaction() as s:
        s.add(Agent(email=ALICE, name="Alice", role="agent"))
        s.add(Agent(email=BOB, name="Bob", role="manager"))
    gateway = Gateway(app)
    await gateway.start()
    try:
        yield Desk(app, gateway, relay)
    finally:
        await gateway.stop()
        await relay.stop()
        app.close()


@pytest.fixture
async def desk(settings: Settings) -> AsyncIterator[Desk]:
    async with running_desk(settings) as running:
        yield running


def mail(
    sender: str,
    to: str,
    subject: str,
    body: str,
    *,
    cc: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    auth: str | None = None,
    attachment: tuple[str, bytes] | None = None,
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    msg = EmailMessage(policy=email.policy.SMTP)
    if auth:
        msg["Authentication-Results"] = auth
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or make_msgid(domain=sender.rpartition("@")[2].strip(">"))
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if attachment:
        msg.add_attachment(
            attachment[1], maintype="application", subtype="pdf", filename=attachment[0]
        )
    return msg.as_bytes()


def agent_reply(  # type: ignore[no-untyped-def]
    notification: EmailMessage,
    body: str,
    *,
    sender: str = f"Alice <{ALICE}>",
    to: str | None = None,
    auth: str | None = PASS,
    **kw,
) -> tuple[bytes, str]:
    """An agent's mail client answering a notification: Reply-To, In-Reply-To, quoted text."""
    quoted = "\n".join(
        "> " + line for line in notification.get_body(("plain",)).get_content().splitlines()
    )
    target = to or notification["Reply-To"]
    raw = mail(
        sender,
        target,
        "Re: " + notification["Subject"],
        f"{body}\n\nOn Mon, 2 Nov 2026, Example Support wrote:\n{quoted}\n",
        in_reply_to=notification["Message-ID"],
        references=f"{notification['References'] or ''} {notification['Message-ID']}".strip(),
        auth=auth,
        **kw,
    )
    return raw, target
