"""Loop defence and bounces over real SMTP: an auto-responder that answers everything, a DSN
for our acknowledgement, and a chatty sender on a fake clock."""

from __future__ import annotations

import asyncio
import email
import email.policy
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select

from postdesk.clock import FakeClock
from postdesk.gateway.app import App
from postdesk.gateway.serve import Gateway
from postdesk.gateway.settings import Settings
from postdesk.inbound.message import Envelope
from postdesk.store.enums import OutboxState
from postdesk.store.models import AuditEntry, InboxItem, Message, OutboxItem, Ticket
from postdesk.store.suppression_models import Suppression
from tests.support import with_settings
from tests.support.mail import client_mail, smtp_send
from tests.support.relay import CapturingRelay

CLIENT = "Ana Client <ana@client.example>"
SUPPORT = "support@example.com"


# How the responder answers: subject, body, extra headers, whether it threads (In-Reply-To).
STYLES = {
    # RFC 3834 compliant: recognised as an auto-reply, never answered.
    "auto-submitted": ("Out of office: Re: {subject}", "I am away.", True, True),
    # No auto headers, no threading; only the subject gives it away.
    "subject-only": ("Out of office: away", "Thanks for your mail.", False, False),
    # Another helpdesk's acknowledgement: no signal at all, a new ticket each time; only the
    # per-recipient cap on automatic mail stops the ping-pong.
    "bare": ("We received your request", "Thanks for your mail.", False, False),
}


@dataclass
class AutoResponder(CapturingRelay):
    """The relay postdesk sends through, with an auto-responder behind it that answers every
    message by mailing the gateway back (see ``STYLES``)."""

    gateway_port: int = 0
    style: str = "auto-submitted"
    replies: list[asyncio.Task] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        answer = await super().handle_DATA(server, session, envelope)
        original = email.message_from_bytes(envelope.content, policy=email.policy.default)
        subject, body, auto_headers, threads = STYLES[self.style]
        reply = client_mail(
            CLIENT,
            SUPPORT,
            subject.format(subject=original["Subject"]),
            body,
            in_reply_to=original["Message-ID"] if threads else None,
            headers={"Auto-Submitted": "auto-replied"} if auto_headers else {},
        )
        self.replies.append(
            asyncio.create_task(
                asyncio.to_thread(
                    smtp_send, self.gateway_port, reply, "ana@client.example", [SUPPORT]
                )
            )
        )
        return answer


def count(app: App, model: type, *where) -> int:  # type: ignore[no-untyped-def]
    with app.db.sessions() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


async def wait_until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("style", list(STYLES))
async def test_auto_responder_gets_one_message_and_the_exchange_stops(
    settings: Settings, style: str
) -> None:
    responder = await AutoResponder(style=style).start()
    app = App(with_settings(settings, relay_url=f"smtp://127.0.0.1:{responder.port}"))
    gateway = Gateway(app)
    await gateway.start()
    responder.gateway_port = gateway.smtp_port
    try:
        first = client_mail(CLIENT, SUPPORT, "Printer on fire", "Help!")
        await asyncio.to_thread(
            smtp_send, gateway.smtp_port, first, "ana@client.example", [SUPPORT]
        )
        await responder.wait_for(1)
        await wait_until(lambda: count(app, InboxItem, InboxItem.processed_at.is_not(None)) == 2)
        await asyncio.sleep(0.5)  # a second automatic message would have gone out by now
        await asyncio.gather(*responder.replies)

        assert len(responder.messages) == 1
        assert count(app, InboxItem) == 2  # the client's mail and one out-of-office answer
        sent = count(app, OutboxItem, OutboxItem.state == OutboxState.SENT)
        assert sent == 1
        if style == "auto-submitted":  # an auto-reply, threaded: no second ticket, no ack
            assert count(app, Ticket) == 1
            assert count(app, OutboxItem) == 1
        elif style == "subject-only":  # a ticket (it may be a real request), but no ack
            assert count(app, Ticket) == 2
            assert count(app, OutboxItem) == 1
        else:  # looks like a new request: a ticket, but the per-recipient cap holds the ack
            assert count(app, Ticket) == 2
            with app.db.sessions() as s:
                held = s.scalars(
                    select(OutboxItem).where(OutboxItem.state == OutboxState.SUPPRESSED)
                ).one()
                assert held.kind == "ack" and "automatic message sent" in (held.last_error or "")
                assert s.scalar(
                    select(AuditEntry).where(
                        AuditEntry.ticket_id == held.ticket_id,
                        AuditEntry.action == "mail_suppressed",
                    )
                )
    finally:
        await gateway.stop()
        await responder.stop()
        app.close()


def delivery_report(ack: email.message.EmailMessage, failed: str, status: str) -> bytes:
    """A DSN as an MTA writes it (RFC 3464), returning only the headers of our message."""
    returned = "".join(
        f"{name}: {ack[name]}\r\n" for name in ("From", "To", "Subject", "Message-ID", "Date")
    )
    text = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.client.example>\r\n"
        f"To: {SUPPORT}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-1@mx.client.example>\r\n"
        "Date: Mon, 02 Nov 2026 10:05:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\n"
        "Content-Type: text/plain\r\n\r\n"
        "Your message could not be delivered.\r\n"
        "\r\n--B\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.client.example\r\n\r\n"
        f"Final-Recipient: rfc822; {failed}\r\n"
        "Action: failed\r\n"
        f"Status: {status}\r\n"
        f"Diagnostic-Code: smtp; 550 {status} user unknown\r\n"
        "\r\n--B\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n"
        f"{returned}"
        "\r\n--B--\r\n"
    )
    return text.encode()


async def test_bounce_fails_the_ack_and_suppresses_the_address(settings: Settings) -> None:
    relay = await CapturingRelay().start()
    app = App(with_settings(settings, relay_url=f"smtp://127.0.0.1:{relay.port}"))
    gateway = Gateway(app)
    await gateway.start()

    async def send(raw: bytes, mail_from: str) -> None:
        await asyncio.to_thread(smtp_send, gateway.smtp_port, raw, mail_from, [SUPPORT])

    try:
        await send(client_mail(CLIENT, SUPPORT, "Printer on fire", "Help!"), "ana@client.example")
        [captured] = await relay.wait_for(1)
        ack = captured.message
        await wait_until(lambda: count(app, OutboxItem, OutboxItem.state == OutboxState.SENT) == 1)

        await send(delivery_report(ack, "ana@client.example", "5.1.1"), "")

        with app.db.sessions() as s:
            row = s.scalars(select(OutboxItem)).one()
            assert row.state == OutboxState.FAILED
            assert "5.1.1" in (row.last_error or "")
            bounce = s.scalars(select(Message).where(Message.kind == "bounce")).one()
            assert (bounce.ticket_id, bounce.visibility) == (row.ticket_id, "internal")
            actions = set(s.scalars(select(AuditEntry.action)))
            assert {"mail_bounced", "suppressed"} <= actions
            suppression = s.scalars(select(Suppression)).one()
            assert suppression.email == "ana@client.example"
        assert count(app, Ticket) == 1

        await send(client_mail(CLIENT, SUPPORT, "Another thing", "Hello?"), "ana@client.example")
        await asyncio.sleep(0.3)
        assert count(app, Ticket) == 2
        assert len(relay.messages) == 1
        with app.db.sessions() as s:
            second = s.scalars(select(OutboxItem).order_by(OutboxItem.id.desc())).first()
            assert second is not None and second.state == OutboxState.SUPPRESSED
            assert "suppressed" in (second.last_error or "")
    finally:
        await gateway.stop()
        await relay.stop()
        app.close()


async def test_bounce_about_unknown_mail_opens_nothing(settings: Settings) -> None:
    app = App(settings)
    try:
        fake_ack = email.message_from_bytes(
            client_mail(SUPPORT, CLIENT, "Not ours", "x", message_id="<nobody@example.com>"),
            policy=email.policy.default,
        )
        raw = delivery_report(fake_ack, "ana@client.example", "5.1.1")  # type: ignore[arg-type]
        result = app.accept(raw, Envelope("", (SUPPORT,)))
        assert result is not None
        with app.db.sessions() as s:
            row = s.scalars(select(InboxItem)).one()
            assert (row.state, row.classification, row.ticket_id) == ("processed", "bounce", None)
            assert row.error and "does not open tickets" in row.error
        assert count(app, Ticket) == 0 and count(app, Suppression) == 0
    finally:
        app.close()


def _accept(app: App, subject: str) -> None:
    app.accept(
        client_mail(CLIENT, SUPPORT, subject, "hi"), Envelope("ana@client.example", (SUPPORT,))
    )


def test_sender_over_the_hourly_rate_gets_no_more_automatic_mail(settings: Settings) -> None:
    clock = FakeClock()
    app = App(
        with_settings(
            settings,
            inbound_rate_per_hour=3,
            auto_reply_min_interval_minutes=0,
            auto_reply_max_per_day=0,
        ),
        clock=clock,
    )
    try:
        for n in range(4):
            _accept(app, f"Question {n}")
            clock.advance(minutes=1)
        assert count(app, Ticket) == 4
        assert count(app, OutboxItem) == 3  # the fourth message is stored, not acknowledged
        assert count(app, AuditEntry, AuditEntry.action == "rate_limited") == 1
        clock.advance(hours=1)
        _accept(app, "Question after an hour")
        assert count(app, OutboxItem) == 4
    finally:
        app.close()


def test_automatic_mail_per_recipient_interval_and_daily_cap(settings: Settings) -> None:
    clock = FakeClock()
    app = App(
        with_settings(settings, auto_reply_min_interval_minutes=10, auto_reply_max_per_day=2),
        clock=clock,
    )
    pending = OutboxItem.state == OutboxState.PENDING
    try:
        _accept(app, "One")
        clock.advance(minutes=5)
        _accept(app, "Two")  # inside the interval: held
        assert count(app, OutboxItem, pending) == 1
        clock.advance(minutes=6)
        _accept(app, "Three")
        clock.advance(minutes=11)
        _accept(app, "Four")  # the daily cap of two is reached
        assert count(app, OutboxItem, pending) == 2
        assert count(app, OutboxItem, OutboxItem.state == OutboxState.SUPPRESSED) == 2
        assert count(app, Message, Message.direction == "out") == 2  # held mail is not shown
        clock.advance(days=1)
        _accept(app, "Five")
        assert count(app, OutboxItem, pending) == 3
    finally:
        app.close()
