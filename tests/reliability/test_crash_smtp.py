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
import os
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from postdesk.store.db import Database
from postdesk.store.enums import InboxState, OutboxState
from postdesk.store.models import InboxItem, Message, OutboxItem, Ticket
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

FULL = os.environ.get("POSTDESK_RELIABILITY_FULL") == "1"
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


def stored_summary(
    db: Database, relay: CapturingRelay, expected: set[str], *, max_extra: int
) -> str:
    """Assert each expected Message-ID is stored once, on its own new ticket, with its ack
    sent; at most ``max_extra`` acks relayed more than once. Returns a one-line summary."""
    with db.sessions() as s:
        inbox = list(s.execute(select(InboxItem.message_id, InboxItem.state)))
        stored = list(
            s.execute(
                select(Message.message_id, Message.ticket_id).where(Message.direction == "in")
            )
        )
        tickets = set(s.scalars(select(Ticket.id)))
        acks = list(
            s.execute(
                select(OutboxItem.ticket_id, OutboxItem.message_id, OutboxItem.state).where(
                    OutboxItem.kind == "ack"
                )
            )
        )
    # Exactly N inbox rows and N stored messages, each Message-ID once.
    assert len(inbox) == len(expected), Counter(m for m, _ in inbox).most_common(3)
    assert {m for m, _ in inbox} == expected
    assert {state for _, state in inbox} == {InboxState.PROCESSED}
    assert len(stored) == len(expected) and {m for m, _ in stored} == expected
    # One new ticket per message, one ack per ticket, every ack recorded as sent.
    assert len(tickets) == len(expected)
    assert Counter(t for _, t in stored) == Counter(tickets)
    assert Counter(t for t, _, _ in acks) == Counter(tickets)
    assert {state for _, _, state in acks} == {OutboxState.SENT}
    # At the relay: every ack at least once; resends only within the at-least-once window.
    relayed = Counter(str(c.message["Message-ID"]).strip("<>") for c in relay.messages)
    ack_ids = {m for _, m, _ in acks}
    assert ack_ids <= set(relayed), f"{len(ack_ids - set(relayed))} acks never relayed"
    assert set(relayed) <= ack_ids, "the relay got mail that is no ack of ours"
    extra = sum(n - 1 for n in relayed.values())
    assert extra <= max_extra, relayed.most_common(5)
    return f"{len(relay.messages)} mails relayed, {extra} resent"
