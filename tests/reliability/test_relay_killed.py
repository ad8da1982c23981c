"""The relay dies and comes back while ``postdesk serve`` is sending: every ack arrives, none lost.

A real ``postdesk serve`` process takes mail over SMTP and sends its acks to a capturing relay
reached through a TCP proxy. Cutting the proxy is the relay being killed: the transactions in
flight are aborted (a DATA the relay took may lose its 250) and new connections are refused;
restoring it is the relay restarted on the same port. This happens several times while mail
keeps arriving. When all has settled: every message stored once, every ack recorded as sent
and relayed, resends only for transactions cut after the relay took the message (at most
one claimed outbox batch per cut), and the outage shows as retried rows.
(test_relay_outage.py covers an hour-long outage with a controllable clock, in-process.)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from pathlib import Path

from sqlalchemy import func, select

from postdesk.store.db import Database
from postdesk.store.models import OutboxItem
from tests.reliability.checks import stored_summary
from tests.reliability.supervisor import (
    OUTBOX_BATCH,
    SUPPORT,
    GatewayProcess,
    Tally,
    deliver_all,
    gateway_env,
)
from tests.reliability.tcp_proxy import TcpProxy
from tests.support.mail import client_mail
from tests.support.relay import CapturingRelay
from tests.support.settle import drained

MESSAGES = 90
CUT_AT = (15, 40, 65)  # delivered messages at which the relay is killed
DOWN_SECONDS = 1.5


def sender(i: int) -> str:
    return f"client{i}@relaykill{i % 11}.example"


def mail(i: int) -> bytes:
    return client_mail(
        sender(i),
        SUPPORT,
        f"Relay restart request {i}",
        f"Request {i}.",
        message_id=f"<relay-kill-{i}@client.example>",
    )


async def test_relay_killed_and_restarted_while_sending(database_url: str, tmp_path: Path) -> None:
    relay = await CapturingRelay().start()
    proxy = await TcpProxy("127.0.0.1", relay.port).start()
    gateway = GatewayProcess(gateway_env(database_url, tmp_path / "var", proxy.port), tmp_path)
    loop = asyncio.get_running_loop()
    outages: list[concurrent.futures.Future[int]] = []
    one_at_a_time = asyncio.Lock()  # mail may arrive faster than an outage lasts

    async def kill_and_restart() -> int:
        async with one_at_a_time:
            return await _kill_and_restart()

    async def _kill_and_restart() -> int:
        # Kill it inside a transaction when one comes within a few seconds.
        for _ in range(3000):
            if proxy._open:
                break
            await asyncio.sleep(0.001)
        in_flight = len(proxy._open) // 2  # each relayed connection is two streams
        await proxy.cut()
        await asyncio.sleep(DOWN_SECONDS)
        for _ in range(50):  # the port may still be held by a closing connection for a moment
            try:
                await proxy.restore()
                break
            except OSError:
                await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"the relay's port {proxy.port} stayed taken")
        return in_flight

    def after_each(done: int) -> None:
        if done in CUT_AT:
            outages.append(asyncio.run_coroutine_threadsafe(kill_and_restart(), loop))

    tally = Tally()
    db = Database(database_url)
    try:
        await asyncio.to_thread(gateway.start)
        jobs = [(mail(i), sender(i)) for i in range(MESSAGES)]
        await asyncio.to_thread(
            deliver_all, gateway.port, jobs, tally, width=4, after_each=after_each
        )
        in_flight = await asyncio.gather(*map(asyncio.wrap_future, outages))
        await drained(db, timeout=90)
        expected = {f"relay-kill-{i}@client.example" for i in range(MESSAGES)}
        summary = stored_summary(db, relay, expected, max_extra=len(CUT_AT) * OUTBOX_BATCH)
        with db.sessions() as s:
            retried = s.scalar(
                select(func.count()).select_from(OutboxItem).where(OutboxItem.attempts > 1)
            )
    finally:
        await asyncio.to_thread(gateway.stop)
        await proxy.stop()
        await relay.stop()
        db.dispose()
    assert len(in_flight) == len(CUT_AT)
    # The outages were real for the gateway: acks failed while the relay was gone, then went.
    assert retried, "no ack was retried: the relay never seemed down"
    assert proxy.connections > len(CUT_AT)
    print(
        f"\nrelay killed {len(CUT_AT)}x ({in_flight} transactions in flight), "
        f"{retried} acks retried, {summary}"
    )
