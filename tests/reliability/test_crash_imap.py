"""SIGKILL ``postdesk serve`` at random moments while it polls a mailbox: no loss, no duplicate.

A real Dovecot mailbox is polled by a real ``postdesk serve`` process (``POSTDESK_MAILBOXES_FILE``).
Mail is appended to the mailbox in several batches while the gateway runs; the gateway is
SIGKILLed whenever the number of stored messages passes one of a few random points (plus a
random delay, so the kill lands inside a fetch, a commit or a flag update) and restarted at
once. When everything has settled: every message is stored exactly once on its own ticket,
every ack reached the relay (resends only within the at-least-once window of one claimed
outbox batch per kill), and every message in the mailbox carries the poller's keyword and
``\\Seen``, with the stored cursor at the last UID.

CI size: 150 messages, 4 kills. Full size (1,000 messages, 12 kills)::

    POSTDESK_RELIABILITY_FULL=1 PYTHONPATH=. .venv/bin/python -m pytest -q -s \
        tests/reliability/test_crash_imap.py

Runs on SQLite and PostgreSQL (``database_url``); the summary line is printed with ``-s``.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from postdesk.inbound.imap.state import MailboxStateStore
from postdesk.store.db import Database
from postdesk.store.models import InboxItem
from tests.reliability.checks import full_size, stored_summary
from tests.reliability.supervisor import OUTBOX_BATCH, SUPPORT, GatewayProcess, Killer, gateway_env
from tests.support.dovecot import Dovecot
from tests.support.imap import append, server_flags
from tests.support.mail import client_mail
from tests.support.relay import CapturingRelay
from tests.support.settle import drained

FULL = full_size()
MESSAGES = 1000 if FULL else 150
KILLS = 12 if FULL else 4
BATCHES = 10
MAILBOX = "crash"
FLAG = b"$Postdesk"


async def cursor_reaching(db: Database, uid: int, timeout: float) -> int:
    """The mailbox's committed cursor once it reaches ``uid``, or where it is at the end."""
    deadline = time.monotonic() + timeout
    while True:
        _validity, last_uid = MailboxStateStore(db, MAILBOX).load()
        if last_uid >= uid or time.monotonic() > deadline:
            return last_uid
        await asyncio.sleep(0.1)


def sender(i: int) -> str:
    # One sender per message: the per-sender auto-reply limits must not hold back any ack.
    return f"client{i}@c{i % 37}.example"


def mail(i: int) -> bytes:
    return client_mail(
        sender(i),
        SUPPORT,
        f"IMAP crash test request {i}",
        f"Request {i} by mail, please.",
        message_id=f"imap-crash-{i}@client.example",
    )


def mailboxes_yaml(dovecot: Dovecot, user: str) -> str:
    # Small batches: many cursor advances and flag updates for a kill to land between.
    return (
        f"- name: {MAILBOX}\n  host: {dovecot.host}\n  port: {dovecot.port}\n"
        f"  security: none\n  username: {user}\n  password: {dovecot.password}\n"
        f"  support_address: {SUPPORT}\n  batch_size: 10\n  backoff_min_seconds: 0.2\n"
        f"  backoff_max_seconds: 1.0\n"
    )


class Feeder:
    """Appends the mail to the mailbox in batches, with pauses, from its own thread."""

    def __init__(self, dovecot: Dovecot, user: str, seed: int) -> None:
        self.dovecot, self.user = dovecot, user
        self.rng = random.Random(seed)
        self.appended = 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            size = -(-MESSAGES // BATCHES)
            for start in range(0, MESSAGES, size):
                batch = [mail(i) for i in range(start, min(start + size, MESSAGES))]
                append(self.dovecot, self.user, batch)
                self.appended += len(batch)
                time.sleep(self.rng.uniform(0.1, 0.6))
        except BaseException as exc:  # reported by the test
            self.error = exc


def stored(db: Database) -> int:
    with db.sessions() as s:
        query = (
            select(func.count()).select_from(InboxItem).where(InboxItem.source == f"imap:{MAILBOX}")
        )
        return int(s.scalar(query) or 0)


def feed_and_kill(
    db: Database, feeder: Feeder, killer: Killer, timeout: float
) -> list[tuple[int, int]]:
    """Feed the mailbox and kill at the killer's points; returns (stored, appended) per kill."""
    feeder.thread.start()
    moments: list[tuple[int, int]] = []
    deadline = time.monotonic() + timeout
    while True:
        count, appended = stored(db), feeder.appended
        assert feeder.error is None, feeder.error
        kills = killer.gateway.kills
        killer(count)
        if killer.gateway.kills > kills:
            moments.append((count, appended))
        if count == MESSAGES and killer.next == len(killer.points):
            return moments
        assert count <= MESSAGES, f"{count} stored of {MESSAGES} appended"
        assert time.monotonic() < deadline, f"only {count} of {MESSAGES} stored"
        time.sleep(0.02)


async def test_sigkill_while_polling_a_mailbox_loses_nothing_and_stores_nothing_twice(
    database_url: str, tmp_path: Path, dovecot: Dovecot, imap_user: str
) -> None:
    relay = await CapturingRelay().start()
    boxes = tmp_path / "mailboxes.yaml"
    boxes.write_text(mailboxes_yaml(dovecot, imap_user))
    env = gateway_env(
        database_url, tmp_path / "var", relay.port, POSTDESK_MAILBOXES_FILE=str(boxes)
    )
    gateway = GatewayProcess(env, tmp_path)
    seed = MESSAGES * 11 + len(database_url)
    killer = Killer(gateway, MESSAGES, KILLS, seed=seed, jitter=0.4)
    feeder = Feeder(dovecot, imap_user, seed)
    started = time.monotonic()
    db = Database(database_url)
    try:
        await asyncio.to_thread(gateway.start)
        moments = await asyncio.to_thread(feed_and_kill, db, feeder, killer, 400 if FULL else 90)
        assert gateway.kills == KILLS
        await drained(db, timeout=120)
        expected = {f"imap-crash-{i}@client.example" for i in range(MESSAGES)}
        summary = stored_summary(db, relay, expected, max_extra=KILLS * OUTBOX_BATCH)
        flags = await asyncio.to_thread(server_flags, dovecot, imap_user)
        # The poller flags a batch on the server first and then commits its cursor: the
        # cursor may still be on its way when the flags are read. A kill between the two
        # leaves it behind until the restarted poller's first drain moves it on.
        last_uid = await cursor_reaching(db, max(flags), timeout=30)
    finally:
        db.dispose()
        await asyncio.to_thread(gateway.stop)
        await relay.stop()
    # The mailbox: every message still there (keep_flag mode), flagged and seen, cursor at the end.
    assert len(flags) == MESSAGES
    unmarked = [uid for uid, f in flags.items() if not {FLAG, b"\\Seen"} <= f]
    assert unmarked == [], f"{len(unmarked)} messages not flagged/seen, e.g. {unmarked[:5]}"
    assert last_uid == max(flags)
    # Some kills landed while mail was waiting in the mailbox (not only after it was drained).
    assert any(count < appended for count, appended in moments), moments
    print(
        f"\n{MESSAGES} messages via IMAP, {gateway.kills} kills at (stored, appended) {moments} "
        f"({killer.downtime:.1f}s restarting), {summary}, {time.monotonic() - started:.1f}s"
    )
