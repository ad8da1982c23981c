"""Runtime configuration against running parts: a gateway's SMTP listener picks up an address
added in the admin (another process's App on the same database), the relay test mail reaches a
real relay, and IMAP mailboxes are tested and polled against a real Dovecot."""

from __future__ import annotations

import asyncio
import smtplib
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from postdesk.admin.app import create_app
from postdesk.gateway.app import App
from postdesk.gateway.serve import Gateway
from postdesk.gateway.settings import Settings
from postdesk.gateway.support_addresses import TTL_SECONDS
from postdesk.store.models import Ticket
from tests.admin.conftest import add_agent, sign_in
from tests.support import with_settings
from tests.support.dovecot import Dovecot
from tests.support.imap import append, dovecot, imap_user, message  # noqa: F401 - fixtures
from tests.support.mail import client_mail, smtp_send
from tests.support.relay import CapturingRelay


def rcpt(port: int, address: str) -> int:
    """The listener's answer to RCPT TO for ``address`` (nothing is sent)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.ehlo("client.example")
        smtp.mail("ana@client.example")
        code, _ = smtp.rcpt(address)
        smtp.rset()
        return code


@contextmanager
def admin(app: App, email: str = "boss@staff.example") -> Iterator[tuple[TestClient, str]]:
    add_agent(app, email, "admin")
    with TestClient(create_app(app), base_url="http://127.0.0.1") as client:
        yield client, sign_in(client, email)


@asynccontextmanager
async def running(app: App, **start: bool) -> AsyncIterator[Gateway]:
    gateway = Gateway(app)
    await gateway.start(**start)
    try:
        yield gateway
    finally:
        await gateway.stop()


async def _until(check, timeout: float = 15.0) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while not await asyncio.to_thread(check):
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout}s")
        await asyncio.sleep(0.1)
    return time.monotonic() - start


async def test_an_address_added_in_the_admin_is_served_without_restart(settings: Settings) -> None:
    gateway_app = App(settings)
    admin_app = App(settings)  # another process: its own cache, the same database
    try:
        async with running(gateway_app, imap=False) as gateway:
            port = gateway.smtp_port
            assert await asyncio.to_thread(rcpt, port, "sales@example.com") == 550
            with admin(admin_app) as (client, token):
                r = await asyncio.to_thread(
                    client.post,
                    "/admin/config/addresses",
                    data={"csrf_token": token, "address": "sales@example.com"},
                )
                assert r.status_code == 200 and "added sales@example.com" in r.text
                took = await _until(lambda: rcpt(port, "sales@example.com") == 250)
                assert took < TTL_SECONDS + 2
                assert await asyncio.to_thread(rcpt, port, "sales+ab12@example.com") == 250
                assert await asyncio.to_thread(rcpt, port, "nobody@example.com") == 550
                raw = client_mail("ana@client.example", "sales@example.com", "Quote", "Price?")
                await asyncio.to_thread(
                    smtp_send, port, raw, "ana@client.example", ["sales@example.com"]
                )
                with gateway_app.db.sessions() as s:
                    ticket = s.scalars(select(Ticket)).one()
                    assert ticket.support_address == "sales@example.com"

                page = await asyncio.to_thread(client.get, "/admin/config/addresses")
                remove = page.text.split('action="/admin/config/addresses/')[1].split('"')[0]
                r = await asyncio.to_thread(
                    client.post, f"/admin/config/addresses/{remove}", data={"csrf_token": token}
                )
                assert r.status_code == 200
                await _until(lambda: rcpt(port, "sales@example.com") == 550)
                assert await asyncio.to_thread(rcpt, port, "support@example.com") == 250
    finally:
        admin_app.close()
        gateway_app.close()


async def test_relay_test_mail_reports_success_refusal_and_hides_the_password(
    settings: Settings,
) -> None:
    relay = await CapturingRelay().start()
    plain = App(with_settings(settings, relay_url=f"smtp://127.0.0.1:{relay.port}"))
    secret = App(
        with_settings(settings, relay_url=f"smtp://mailer:hunter2-pw@127.0.0.1:{relay.port}")
    )
    try:
        with admin(plain) as (client, token):
            page = await asyncio.to_thread(client.get, "/admin/config/smtp")
            assert f"127.0.0.1:{relay.port}" in page.text and "Password</dt><dd>none" in page.text
            send = {"csrf_token": token, "to": "ops@example.org"}
            r = await asyncio.to_thread(client.post, "/admin/config/smtp/test", data=send)
            assert r.status_code == 200 and "Sent: the relay accepted" in r.text
            [got] = relay.messages
            assert got.rcpt_tos == ["ops@example.org"]
            assert got.message["Subject"] == "postdesk relay test"
            assert got.message["Auto-Submitted"] == "auto-generated"

            relay.fail_with = "554 5.7.1 Relaying denied for you"
            r = await asyncio.to_thread(client.post, "/admin/config/smtp/test", data=send)
            assert r.status_code == 502, r.text[r.text.find("<main>") :]
            assert "Failed: " in r.text
            assert "relay answered 554 5.7.1 Relaying denied for you" in r.text
        with admin(secret, "root@staff.example") as (client, token):
            page = await asyncio.to_thread(client.get, "/admin/config/smtp")
            assert "set (not shown)" in page.text and "mailer" in page.text
            assert "hunter2-pw" not in page.text
            # The capturing relay offers no AUTH: the page shows the client library's reason.
            send = {"csrf_token": token, "to": "ops@example.org"}
            r = await asyncio.to_thread(client.post, "/admin/config/smtp/test", data=send)
            assert r.status_code == 502 and "AUTH" in r.text and "hunter2-pw" not in r.text
    finally:
        plain.close()
        secret.close()
        await relay.stop()


@pytest.mark.dovecot
async def test_imap_mailboxes_tested_added_and_polled_without_restart(
    settings: Settings,
    dovecot: Dovecot,  # noqa: F811 - the fixture imported above
    imap_user: str,  # noqa: F811
) -> None:
    relay = await CapturingRelay().start()
    app = App(with_settings(settings, relay_url=f"smtp://127.0.0.1:{relay.port}"))
    box = {
        "host": dovecot.host,
        "port": str(dovecot.port),
        "security": "none",
        "username": imap_user,
        "folder": "INBOX",
        "support_address": "support@example.com",
    }
    try:
        async with running(app, smtp=False) as gateway:
            with admin(app) as (client, token):
                for name, password in [("help", dovecot.password), ("wrong", "not-the-pw")]:
                    data = box | {"csrf_token": token, "name": name, "password": password}
                    r = await asyncio.to_thread(client.post, "/admin/config/mailboxes", data=data)
                    assert r.status_code == 200 and f"added mailbox {name}" in r.text

                post = {"csrf_token": token}
                r = await asyncio.to_thread(
                    client.post, "/admin/config/mailboxes/help/test", data=post
                )
                assert f"help: OK, logged in as {imap_user}; INBOX holds 0 message(s)" in r.text
                r = await asyncio.to_thread(
                    client.post, "/admin/config/mailboxes/wrong/test", data=post
                )
                assert "wrong: failed: " in r.text
                assert "AUTHENTICATIONFAILED" in r.text or "Authentication failed" in r.text

                # The running gateway polls the new mailbox: mail there becomes a ticket + ack.
                append(dovecot, imap_user, [message(1, body="The printer is on fire.")])
                [ack] = await relay.wait_for(1, timeout=20)
                assert ack.rcpt_tos == ["client1@example.org"]

                def shown() -> bool:
                    html = client.get("/admin/config/mailboxes").text
                    row = html.split('id="mailbox-help"')[1].split("</tr>")[0]
                    bad = html.split('id="mailbox-wrong"')[1].split("</tr>")[0]
                    # On PostgreSQL the poller's advisory lock names the backend holding it.
                    held = "backend pid" in row or not app.db.is_postgres
                    return "<td>1</td>" in row and "AUTHENTICATIONFAILED" in bad and held

                await _until(shown)
                assert {w.cfg.name for w in gateway.imap.workers} == {"help", "wrong"}
                r = await asyncio.to_thread(
                    client.post, "/admin/config/mailboxes/wrong/remove", data=post
                )
                assert r.status_code == 200
                await _until(lambda: {w.cfg.name for w in gateway.imap.workers} == {"help"})
    finally:
        await relay.stop()
        app.close()
