"""One client's whole conversation over real SMTP: new mail, acknowledgement, reply, same ticket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from postdesk.gateway.app import App
from postdesk.gateway.serve import Gateway
from postdesk.gateway.settings import Settings
from postdesk.store.models import InboxItem, Message, OutboxItem, Ticket
from tests.support import with_settings
from tests.support.mail import client_mail, smtp_send
from tests.support.relay import CapturingRelay

CLIENT = "Ana Client <ana@client.example>"


@dataclass
class Running:
    app: App
    gateway: Gateway
    relay: CapturingRelay

    async def send(
        self, raw: bytes, rcpts: list[str], mail_from: str = "ana@client.example"
    ) -> dict:
        return await asyncio.to_thread(smtp_send, self.gateway.smtp_port, raw, mail_from, rcpts)

    def count(self, model: type, *where) -> int:  # type: ignore[no-untyped-def]
        with self.app.db.sessions() as s:
            return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


@pytest.fixture
async def running(settings: Settings) -> AsyncIterator[Running]:
    relay = await CapturingRelay().start()
    settings = with_settings(settings, relay_url=f"smtp://127.0.0.1:{relay.port}")
    app = App(settings)
    gateway = Gateway(app)
    await gateway.start()
    try:
        yield Running(app, gateway, relay)
    finally:
        await gateway.stop()
        await relay.stop()
        app.close()


def reply_variants(ack) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    """How different mail clients (and providers) answer our acknowledgement."""
    ack_id = ack["Message-ID"]
    return {
        "in-reply-to": dict(
            to="support@example.com",
            in_reply_to=ack_id,
            references=f"{ack['References'] or ''} {ack_id}".strip(),
            subject="Re: " + ack["Subject"],
        ),
        # A provider that rewrote the headers; only the Reply-To address survives.
        "reply-address-only": dict(to=ack["Reply-To"], subject="Re: printer on fire"),
        "subject-tag-only": dict(to="support@example.com", subject="Re: " + ack["Subject"]),
    }


@pytest.mark.parametrize("variant", ["in-reply-to", "reply-address-only", "subject-tag-only"])
async def test_new_mail_ack_and_reply_make_one_ticket(running: Running, variant: str) -> None:
    first = client_mail(CLIENT, "support@example.com", "Printer on fire", "It is on fire. Help!")
    await running.send(first, ["support@example.com"])

    [captured] = await running.relay.wait_for(1)
    ack = captured.message
    with running.app.db.sessions() as s:
        ticket = s.scalars(select(Ticket)).one()
    assert captured.rcpt_tos == ["ana@client.example"]
    assert f"[#{ticket.id}]" in ack["Subject"]
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["In-Reply-To"].strip("<>") == first_message_id(first)
    assert ack["Reply-To"].startswith(f"support+{ticket.id}-")
    assert str(ticket.id) in ack.get_body(("plain",)).get_content()

    v = reply_variants(ack)[variant]
    reply = client_mail(
        CLIENT,
        v["to"],
        v["subject"],
        "Now it is out.\n\n> It is on fire.",
        in_reply_to=v.get("in_reply_to"),
        references=v.get("references"),
    )
    await running.send(reply, [v["to"]])
    await asyncio.sleep(0.3)  # a second acknowledgement would have arrived by now

    assert running.count(Ticket) == 1
    assert running.count(Message, Message.direction == "in") == 2
    assert running.count(OutboxItem, OutboxItem.kind == "ack") == 1
    assert len(running.relay.messages) == 1
    with running.app.db.sessions() as s:
        reply_row = s.scalars(
            select(Message).where(Message.direction == "in").order_by(Message.id.desc())
        ).first()
        assert reply_row is not None and reply_row.ticket_id == ticket.id
        assert reply_row.text_new.strip() == "Now it is out."


async def test_reply_all_from_cc_participant_joins_ticket(running: Running) -> None:
    first = client_mail(
        CLIENT,
        "support@example.com",
        "Invoice question",
        "Which invoice?",
        cc="Bob <bob@client.example>",
    )
    await running.send(first, ["support@example.com"])
    [captured] = await running.relay.wait_for(1)
    ack = captured.message
    reply = client_mail(
        "Bob <bob@client.example>",
        "support@example.com",
        "Re: " + ack["Subject"],
        "The one from May.",
        cc="ana@client.example",
        in_reply_to=ack["Message-ID"],
        references=ack["Message-ID"],
    )
    await running.send(reply, ["support@example.com"], mail_from="bob@client.example")
    assert running.count(Ticket) == 1
    assert running.count(Message, Message.direction == "in") == 2


async def test_stranger_with_someone_elses_tag_gets_own_ticket(running: Running) -> None:
    await running.send(
        client_mail(CLIENT, "support@example.com", "Secret contract", "Details"),
        ["support@example.com"],
    )
    [captured] = await running.relay.wait_for(1)
    tag = captured.message["Subject"].split("]")[0] + "]"
    intruder = client_mail(
        "mallory@evil.example", "support@example.com", f"Re: {tag} hi", "Let me in"
    )
    await running.send(intruder, ["support@example.com"], mail_from="mallory@evil.example")
    await running.relay.wait_for(2)
    assert running.count(Ticket) == 2
    assert running.count(Ticket, Ticket.subject.like("%Secret%")) == 1


async def test_same_bytes_twice_over_smtp_are_stored_once(running: Running) -> None:
    raw = client_mail(CLIENT, "support@example.com", "Duplicate?", "Once only")
    await running.send(raw, ["support@example.com"])
    await running.send(raw, ["support@example.com"])  # the MTA retried after a lost 250
    await running.relay.wait_for(1)
    assert running.count(InboxItem) == 1
    assert running.count(Message) == 2  # the client's mail and our acknowledgement
    assert running.count(Ticket) == 1


async def test_unknown_recipient_is_refused_at_rcpt(running: Running) -> None:
    import smtplib

    raw = client_mail(CLIENT, "sales@example.com", "Hello", "Wrong address")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await running.send(raw, ["sales@example.com"])
    code, reason = refused.value.recipients["sales@example.com"]
    assert code == 550 and b"5.1.1" in reason
    assert running.count(InboxItem) == 0


async def test_oversized_message_gets_552(settings: Settings) -> None:
    import smtplib

    app = App(with_settings(settings, smtp_max_message_bytes=10_000))
    gateway = Gateway(app)
    await gateway.start(outbox=False)
    try:
        raw = client_mail(CLIENT, "support@example.com", "Big", "x" * 20_000)
        with pytest.raises(smtplib.SMTPResponseException) as err:
            await asyncio.to_thread(
                smtp_send, gateway.smtp_port, raw, "ana@client.example", ["support@example.com"]
            )
        assert err.value.smtp_code == 552
    finally:
        await gateway.stop()
        app.close()


def first_message_id(raw: bytes) -> str:
    import email

    return email.message_from_bytes(raw)["Message-ID"].strip().strip("<>")
