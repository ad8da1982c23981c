"""`postdesk serve` with an IMAP mailbox: mail in the mailbox becomes a ticket and an ack."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from postdesk.gateway.app import App
from postdesk.gateway.serve import Gateway
from postdesk.gateway.settings import Settings
from postdesk.store.models import InboxItem, Ticket
from tests.support import with_settings
from tests.support.dovecot import Dovecot
from tests.support.imap import append, message, server_flags
from tests.support.relay import CapturingRelay

pytestmark = pytest.mark.dovecot


def mailboxes_file(tmp_path: Path, dovecot: Dovecot, user: str) -> Path:
    """A POSTDESK_MAILBOXES_FILE with one mailbox on the test's Dovecot account."""
    path = tmp_path / "mailboxes.yaml"
    box = {
        "name": "help",
        "host": dovecot.host,
        "port": dovecot.port,
        "security": "none",
        "username": user,
        "password": dovecot.password,
        "support_address": "support@example.com",
        "connect_timeout": 5,
        "read_timeout": 10,
    }
    path.write_text(yaml.safe_dump([box]))
    return path


async def test_mail_in_an_imap_mailbox_opens_a_ticket(
    settings: Settings,
    dovecot: Dovecot,
    imap_user: str,
    tmp_path: Path,
) -> None:
    mailboxes = mailboxes_file(tmp_path, dovecot, imap_user)
    relay = await CapturingRelay().start()
    app = App(
        with_settings(
            settings, mailboxes_file=mailboxes, relay_url=f"smtp://127.0.0.1:{relay.port}"
        )
    )
    gateway = Gateway(app)
    await gateway.start(smtp=False)
    try:
        append(dovecot, imap_user, [message(1, body="The printer is on fire.")])
        [ack] = await relay.wait_for(1, timeout=15)
    finally:
        await gateway.stop()
        await relay.stop()
    assert ack.rcpt_tos == ["client1@example.org"]
    with app.db.sessions() as s:
        ticket = s.scalars(select(Ticket)).one()
        row = s.scalars(select(InboxItem)).one()
    assert row.source == "imap:help" and row.ticket_id == ticket.id
    assert f"[#{ticket.id}]" in ack.message["Subject"]
    assert all(b"$Postdesk" in flags for flags in server_flags(dovecot, imap_user).values())
    app.close()


async def test_two_hundred_messages_become_two_hundred_tickets(
    settings: Settings,
    dovecot: Dovecot,
    imap_user: str,
    tmp_path: Path,
) -> None:
    from sqlalchemy import func

    from postdesk.store.models import Message

    mailboxes = mailboxes_file(tmp_path, dovecot, imap_user)
    append(dovecot, imap_user, [message(i) for i in range(200)])
    app = App(with_settings(settings, mailboxes_file=mailboxes))
    gateway = Gateway(app)
    await gateway.start(smtp=False, outbox=False)

    def counts() -> tuple[int, int]:
        with app.db.sessions() as s:
            return (
                s.scalar(select(func.count()).select_from(Ticket)) or 0,
                s.scalar(select(func.count()).select_from(Message).where(Message.direction == "in"))
                or 0,
            )

    try:
        for _ in range(300):
            if counts() == (200, 200):
                break
            await asyncio.sleep(0.1)
    finally:
        await gateway.stop()
    assert counts() == (200, 200)
    assert len(server_flags(dovecot, imap_user)) == 200
    app.close()
