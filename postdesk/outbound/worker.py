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
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from structlog.contextvars import bound_contextvars

from postdesk.clock import Clock, utcnow
from postdesk.contracts import PermanentFailure, TemporaryFailure, Transport
from postdesk.store.audit_log import audit
from postdesk.store.db import Database
from postdesk.store.enums import OutboxState
from postdesk.store.models import OutboxItem

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=6)


def next_attempt(now: datetime, attempts: int, base_seconds: float) -> datetime:
    """Exponential backoff: base, 2·base, 4·base … capped at six hours."""
    delay = timedelta(seconds=base_seconds * 2 ** max(attempts - 1, 0))
    return now + min(delay, MAX_BACKOFF)


@dataclass(slots=True)
class Claimed:
    id: int
    ticket_id: int | None
    mail_from: str
    recipients: list[str]
    raw: bytes
    attempts: int
    message_id: str = ""
    lease: datetime | None = None  # the claimed_until we wrote; another value means taken over
    # Renewals whose commit failed may have landed or not: those values are ours as well.
    unsure: list[datetime] = field(default_factory=list)

    def leases(self) -> list[datetime]:
        """Every ``claimed_until`` the row may hold while it is still ours."""
        return [lease for lease in (self.lease, *self.unsure) if lease is not None]


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
        # Rows claimed in a pass that a database error cut short. They stay ours until their
        # lease ends, so the next pass sends them as soon as the database answers again,
        # instead of leaving them for the lease to run out (five minutes by default).
        self._held: list[Claimed] = []

    async def run_forever(self, stop: asyncio.Event, wake: asyncio.Event | None = None) -> None:
        wake = wake or asyncio.Event()
        while not stop.is_set():
            try:
                sent = await self.run_once(stop)
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
        if self._held:  # the last pass failed: let another process have them now
            held, self._held = self._held, []
            try:
                await asyncio.to_thread(self._release, held)
            except Exception:
                log.warning("could not release %d held outbox rows; their lease will", len(held))

    async def run_once(self, stop: asyncio.Event | None = None) -> int:
        """Send what is due now; return how many rows were attempted.

        When ``stop`` is set midway (SIGTERM), the rows not yet tried are released at once,
        so another process sends them now instead of after the lease runs out."""
        now = self.clock()
        # Held rows whose every possible lease has run out are anyone's again: _claim's.
        claimed = [c for c in self._held if max(c.leases(), default=now) > now]
        self._held = []
        if not claimed:
            claimed = await asyncio.to_thread(self._claim)
        for done, item in enumerate(claimed):
            if stop is not None and stop.is_set():
                await asyncio.to_thread(self._release, claimed[done:])
                return done
            try:
                renewed = await asyncio.to_thread(self._renew, item)
            except Exception:
                self._held = claimed[done:]
                raise
            if renewed:
                try:
                    await self._deliver(item)
                except Exception:
                    self._held = claimed[done + 1 :]  # this one went to the relay: not again
                    raise
        return len(claimed)

    def _renew(self, item: Claimed) -> bool:
        """Extend our lease on ``item`` just before sending it; False when the lease ran out
        meanwhile and another process claimed the row (it sends it: we must not as well)."""
        renewed = self.clock() + self.lease
        ran = False
        try:
            with self.db.transaction() as session:
                result = session.execute(
                    update(OutboxItem).where(*_still_ours(item)).values(claimed_until=renewed)
                )
                ran = True
        except Exception:
            if ran:  # the UPDATE ran and the COMMIT failed: it may have landed
                item.unsure.append(renewed)
            raise
        item.unsure.clear()
        if result.rowcount != 1:  # type: ignore[attr-defined]
            log.info("outbox %s: not ours (claimed by another process); not sending", item.id)
            return False
        item.lease = renewed
        return True

    def _release(self, items: list[Claimed]) -> None:
        """Give up our claims at once; a row whose lease another process holds is left alone."""
        with self.db.transaction() as session:
            for item in items:
                session.execute(
                    update(OutboxItem).where(*_still_ours(item)).values(claimed_until=None)
                )
        log.info("released %d claimed outbox rows on shutdown", len(items))

    def _claim(self) -> list[Claimed]:
        now = self.clock()
        # A ticket's mail to its client goes out in the order it was queued: such a row waits
        # while an earlier one of its ticket is still pending (backing off after a relay
        # outage, or claimed). Staff mail (notifications, command errors) never waits on it.
        earlier = aliased(OutboxItem)
        waits_for_earlier = exists().where(
            earlier.ticket_id == OutboxItem.ticket_id,
            earlier.state == OutboxState.PENDING,
            earlier.id < OutboxItem.id,
            ~_staff_mail(earlier),
        )
        claimed: list[Claimed] = []
        try:
            with self.db.transaction() as session:
                query = (
                    select(OutboxItem)
                    .where(
                        OutboxItem.state == OutboxState.PENDING,
                        OutboxItem.next_attempt_at <= now,
                        or_(OutboxItem.claimed_until.is_(None), OutboxItem.claimed_until < now),
                        or_(_staff_mail(OutboxItem), ~waits_for_earlier),
                    )
                    .order_by(OutboxItem.id)
                    .limit(self.batch)
                )
                if self.db.is_postgres:
                    query = query.with_for_update(skip_locked=True)
                rows = list(session.scalars(query))
                lease = now + self.lease
                for row in rows:
                    row.claimed_until = lease
                claimed = [
                    Claimed(
                        r.id,
                        r.ticket_id,
                        r.mail_from,
                        list(r.recipients),
                        r.raw,
                        r.attempts,
                        r.message_id,
                        lease,
                    )
                    for r in rows
                ]
        except Exception:
            # The commit may have landed before the link dropped: hold the rows, and the next
            # pass's renewal finds out whether they are ours.
            self._held = claimed
            raise
        return claimed

    async def _deliver(self, item: Claimed) -> None:
        with bound_contextvars(outbox=item.id, ticket=item.ticket_id, message_id=item.message_id):
            await self._deliver_bound(item)

    async def _deliver_bound(self, item: Claimed) -> None:
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
                log.info("outbox %s sent: %s to %s", item.id, row.kind, ", ".join(row.recipients))
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


def _still_ours(item: Claimed) -> tuple[ColumnElement[bool], ...]:
    """The row is pending and holds a lease we wrote (else another process has it)."""
    return (
        OutboxItem.id == item.id,
        OutboxItem.state == OutboxState.PENDING,
        OutboxItem.claimed_until.in_(item.leases()),
    )


def _staff_mail(item):  # type: ignore[no-untyped-def]
    """Mail to staff about a ticket: kept out of the client thread's ordering."""
    return or_(item.kind.like("notify:%"), item.kind == "agent_command_error")
