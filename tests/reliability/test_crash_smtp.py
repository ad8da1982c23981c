"""SIGKILL ``postdesk serve`` at random moments under SMTP load: nothing lost, nothing twice.

A real ``postdesk serve`` process takes mail over SMTP from a client that behaves like an MTA
(it retries on 4xx, a dropped or a refused connection until it gets 250). The gateway is
killed with SIGKILL while deliveries are in flight and restarted on the same port each time.
When the outbox has drained: every message is stored exactly once, on its own new ticket,
and every acknowledgement reached the relay. An ack the killed process had relayed but not
yet recorded as sent goes out again (the documented at-least-once window): at most one
claimed outbox batch per kill, with the same Message-ID.

CI size: 150 messages, 4 kills. Full size (1,000 messages, 12 kills)::

    POSTDESK_RELIABILITY_FULL=1 PYTHONPATH=. .venv/bin/python -m pytest -q -s \
        tests/reliability/test_crash_smtp.py

Runs on SQLite and PostgreSQL (``database_url``); the summary line is printed with ``-s``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from postdesk.store.db import Database
from tests.reliability.checks import full_size, stored_summary
from tests.reliability.supervisor import (
    OUTBOX_BATCH,
    SUPPORT,
    GatewayProcess,
    Killer,
    Tally,
    deliver_all,
    gateway_env,
)
from tests.support.mail import client_mail
from tests.support.relay import CapturingRelay
from tests.support.settle import drained

FULL = full_size()
MESSAGES = 1000 if FULL else 150
KILLS = 12 if FULL else 4
WIDTH = 6  # concurrent SMTP clients


def sender(i: int) -> str:
    # One sender per message: the per-sender auto-reply limits must not hold back any ack.
    return f"client{i}@c{i % 41}.example"


def mail(i: int) -> bytes:
    return client_mail(
        sender(i),
        SUPPORT,
        f"Crash test request {i}",
        f"Request {i}, please.",
        message_id=f"<crash-{i}@client.example>",
    )


async def test_sigkill_under_load_loses_nothing_and_stores_nothing_twice(
    database_url: str, tmp_path: Path
) -> None:
    relay = await CapturingRelay().start()
    gateway = GatewayProcess(gateway_env(database_url, tmp_path / "var", relay.port), tmp_path)
    killer = Killer(gateway, MESSAGES, KILLS, seed=MESSAGES * 7 + len(database_url))
    tally = Tally()
    started = time.monotonic()
    try:
        await asyncio.to_thread(gateway.start)
        jobs = [(mail(i), sender(i)) for i in range(MESSAGES)]
        attempts = await asyncio.to_thread(
            deliver_all, gateway.port, jobs, tally, width=WIDTH, after_each=killer
        )
        assert gateway.kills == KILLS
        db = Database(database_url)
        try:
            await drained(db, timeout=120)
            expected = {f"crash-{i}@client.example" for i in range(MESSAGES)}
            summary = stored_summary(db, relay, expected, max_extra=KILLS * OUTBOX_BATCH)
        finally:
            db.dispose()
    finally:
        await asyncio.to_thread(gateway.stop)
        await relay.stop()
    print(
        f"\n{MESSAGES} messages, {gateway.kills} kills ({killer.downtime:.1f}s restarting), "
        f"{sum(attempts)} attempts, replies {dict(tally.replies)}, "
        f"{summary}, {time.monotonic() - started:.1f}s"
    )
    # The kills really hit deliveries in flight: some were retried.
    assert sum(attempts) > MESSAGES
