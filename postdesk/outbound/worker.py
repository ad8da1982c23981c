"""The outbox worker: claims due rows, hands them to the transport, records the outcome.

A claim is a lease (``claimed_until``) written in its own short transaction, so a worker
that dies mid-send leaves rows that another worker takes over once the lease expires. On
PostgreSQL the claim uses ``FOR UPDATE SKIP LOCKED``, so several gateway processes each
claim a row exactly once. A row is only ever marked sent after the relay said 250; a
crash between the two can send a message twice but never lose it (at-least-once).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import aliased

from postdesk.clock import Clock, utcnow
from postdesk.contracts import PermanentFailure, TemporaryFailure, Transport
from postdesk.store.db import Database
from postdesk.store.enums import OutboxState
from postdesk.store.models import OutboxItem
from postdesk.store.tickets import audit

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=6)


def next_attempt(now: datetime, attempts: int, base_seconds: float) -> datetime:
    """Exponential backoff: base, 2·base, 4·base … capped at six hours."""
    delay = timedelta(seconds=base_seconds * 2 ** max(attempts - 1, 0))
    return now + min(delay, MAX_BACKOFF)


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    ticket_id: int | None
    mail_from: str
    recipients: list[str]
    raw: bytes
    attempts: int


class OutboxWorker:
    def __init__(
        self,
        db: Database,
        transport: Transport,
        *,
        clock: Clock = utcnow,
        max_attempts: int = 12,
        backoff_seconds: float = 30.0,
        lease_seconds: float = 300.0,
        batch: int = 20,
        idle_seconds: float = 5.0,
    ) -> None:
        self.db = db
        self.transport = transport
        self.clock = clock
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.lease = timedelta(seconds=lease_seconds)
        self.batch = batch
        self.idle_seconds = idle_seconds

    async def run_forever(self, stop: asyncio.Event, wake: asyncio.Event | None = None) -> None:
        wake = wake or asyncio.Event()
        while not stop.is_set():
            try:
                sent = await self.run_once()
            except Exception:
                log.exception("outbox pass failed")
                sent = 0
            if sent:
                continue
            wake.clear()
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
            await asyncio.wait(
                waiters, timeout=self.idle_seconds, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in waiters:
                waiter.cancel()

    async def run_once(self) -> int:
        """Send what is due now; return how many rows were attempted."""
        claimed = await asyncio.to_thread(self._claim)
        for item in claimed:
            await self._deliver(item)
        return len(claimed)

    def _claim(self) -> list[Claimed]:
        now = self.clock()
        # Mail of one ticket goes out in the order it was queued: a row waits while an earlier
        # row of its ticket is still pending (backing off after a relay outage, or claimed).
        earlier = aliased(OutboxItem)
        waits_for_earlier = exists().where(
            earlier.ticket_id == OutboxItem.ticket_id,
            earlier.state == OutboxState.PENDING,
            earlier.id < OutboxItem.id,
        )
        with self.db.transaction() as session:
            query = (
                select(OutboxItem)
                .where(
                    OutboxItem.state == OutboxState.PENDING,
                    OutboxItem.next_attempt_at <= now,
                    or_(OutboxItem.claimed_until.is_(None), OutboxItem.claimed_until < now),
                    ~waits_for_earlier,
                )
                .order_by(OutboxItem.id)
                .limit(self.batch)
            )
            if self.db.is_postgres:
                query = query.with_for_update(skip_locked=True)
            rows = list(session.scalars(query))
            for row in rows:
                row.claimed_until = now + self.lease
            return [
                Claimed(r.id, r.ticket_id, r.mail_from, list(r.recipients), r.raw, r.attempts)
                for r in rows
            ]

    async def _deliver(self, item: Claimed) -> None:
        error: str | None = None
        permanent = False
        try:
            await self.transport.send(item.raw, item.mail_from, item.recipients)
        except PermanentFailure as exc:
            error, permanent = str(exc), True
        except TemporaryFailure as exc:
            error = str(exc)
        except Exception as exc:
            log.exception("outbox %s: unexpected transport error", item.id)
            error = f"{type(exc).__name__}: {exc}"
        await self._record_while_leased(item, error, permanent)

    async def _record_while_leased(self, item: Claimed, error: str | None, permanent: bool) -> None:
        """Record the outcome, retrying through a database outage for half the lease: a mail
        the relay took but we could not record would otherwise be sent again after the lease."""
        give_up = time.monotonic() + self.lease.total_seconds() / 2
        while True:
            try:
                await asyncio.to_thread(self._record, item, error, permanent)
                return
            except Exception as exc:
                if time.monotonic() >= give_up:
                    raise
                log.warning("outbox %s: could not record the outcome yet: %s", item.id, exc)
                await asyncio.sleep(0.5)

    def _record(self, item: Claimed, error: str | None, permanent: bool) -> None:
        now = self.clock()
        with self.db.transaction() as session:
            row = session.get(OutboxItem, item.id)
            if row is None:
                return
            row.claimed_until = None
            if row.state != OutboxState.PENDING:
                return  # decided meanwhile (a bounce already failed it): keep that verdict
            row.attempts = item.attempts + 1
            if error is None:
                row.state, row.sent_at, row.last_error = OutboxState.SENT, now, None
                return
            row.last_error = error[:2000]
            if permanent or row.attempts >= self.max_attempts:
                row.state = OutboxState.FAILED
                log.warning("outbox %s failed for good: %s", item.id, error)
                if row.ticket_id is not None:
                    audit(
                        session,
                        row.ticket_id,
                        "system",
                        "mail_failed",
                        detail=f"{row.kind} to {', '.join(row.recipients)}: {error}"[:2000],
                        at=now,
                    )
            else:
                row.next_attempt_at = next_attempt(now, row.attempts, self.backoff_seconds)
