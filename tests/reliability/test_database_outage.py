"""PostgreSQL goes away while ``postdesk serve`` takes mail: 451 while it is down, 250 again
after, and nothing that was answered 250 (or retried by the sender) is lost or stored twice.

The gateway reaches the real PostgreSQL through a TCP proxy run by the test; cutting the
proxy refuses new connections and aborts open ones, as a stopped server would, without
stopping the machine's PostgreSQL that other tests use.
"""

from __future__ import annotations

import asyncio
import smtplib
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from postdesk.store.db import Database
from tests.reliability.checks import stored_summary
from tests.reliability.supervisor import (
    SUPPORT,
    GatewayProcess,
    Tally,
    deliver_all,
    gateway_env,
)
from tests.reliability.tcp_proxy import TcpProxy
from tests.support.databases import PostgresServer
from tests.support.mail import client_mail
from tests.support.relay import CapturingRelay
from tests.support.settle import drained

pytestmark = pytest.mark.postgres

BEFORE, DURING, AFTER = 20, 12, 20


def sender(i: int) -> str:
    return f"client{i}@outage{i % 7}.example"


def mail(i: int) -> bytes:
    return client_mail(
        sender(i),
        SUPPORT,
        f"Outage request {i}",
        f"Request {i}.",
        message_id=f"<outage-{i}@client.example>",
    )


def through(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0] + "@" if len(netloc) == 2 else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{port}"))


def try_once(port: int, raw: bytes, mail_from: str) -> str:
    """One delivery attempt; the reply code, or what went wrong on the wire."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
            client.sendmail(mail_from, [SUPPORT], raw)
        return "250"
    except smtplib.SMTPResponseException as exc:
        return str(exc.smtp_code)
    except (smtplib.SMTPException, OSError) as exc:
        return type(exc).__name__


async def test_database_outage_answers_451_and_loses_nothing(
    postgres_server: PostgresServer | None, tmp_path: Path
) -> None:
    if postgres_server is None:
        pytest.skip("PostgreSQL not reachable (set POSTDESK_TEST_PG_URL)")
    postgres_server.truncate()
    real = urlsplit(postgres_server.url)
    proxy = await TcpProxy(real.hostname or "127.0.0.1", real.port or 5432).start()
    relay = await CapturingRelay().start()
    # A long lease: the worker keeps retrying to record a relayed ack through the outage for
    # half of it, instead of leaving the row to be sent again when the lease ends.
    env = gateway_env(
        through(postgres_server.url, proxy.port),
        tmp_path / "var",
        relay.port,
        POSTDESK_OUTBOX_LEASE_SECONDS="60",
    )
    gateway = GatewayProcess(env, tmp_path)
    tally = Tally()
    db = Database(postgres_server.url)  # the test's own view, not through the proxy
    try:
        await asyncio.to_thread(gateway.start)
        jobs = [(mail(i), sender(i)) for i in range(BEFORE + DURING + AFTER)]
        await asyncio.to_thread(deliver_all, gateway.port, jobs[:BEFORE], tally, width=4)
        assert proxy.connections > 0, "the gateway must reach the database through the proxy"

        await proxy.cut()
        during = jobs[BEFORE : BEFORE + DURING]
        replies = [await asyncio.to_thread(try_once, gateway.port, raw, s) for raw, s in during]
        # A second round: the gateway keeps answering 451 (and keeps running) while it lasts.
        replies += [await asyncio.to_thread(try_once, gateway.port, raw, s) for raw, s in during]
        assert replies == ["451"] * len(replies), replies
        assert gateway.popen is not None and gateway.popen.poll() is None

        await proxy.restore()
        # The senders retry what got 451, and new mail arrives as well.
        await asyncio.to_thread(deliver_all, gateway.port, jobs[BEFORE:], tally, width=4)
        # Longer than the lease: an ack relayed as the link dropped whose record still fails
        # after half the lease is sent again only when that lease ends.
        await drained(db, timeout=90)
        # Acks relayed just before the cut cannot be recorded until the database is back; the
        # worker retries the record for half its lease, and on a loaded machine the outage can
        # outlast that, so such an ack goes out again (at least once, never lost).
        summary = stored_summary(
            db, relay, {f"outage-{i}@client.example" for i in range(len(jobs))}, max_extra=2
        )
    finally:
        await asyncio.to_thread(gateway.stop)
        await proxy.stop()
        await relay.stop()
        db.dispose()
    print(f"\noutage replies: {replies[:3]}..., then {dict(tally.replies)}; {summary}")
