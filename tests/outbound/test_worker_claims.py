"""Outbox claims: released on shutdown, and never sent twice after a lease was taken over."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.exc import OperationalError

from postdesk.gateway.app import App
from postdesk.outbound.compose import OutgoingMail
from postdesk.outbound.outbox import enqueue
from postdesk.outbound.transport import RelayConfig, RelayTransport
from postdesk.outbound.worker import OutboxWorker
from postdesk.store.enums import OutboxState
from postdesk.store.models import OutboxItem
from tests.support.relay import CapturingRelay


class StopAfterFirst:
    """The real relay transport; the first delivery also asks the worker to stop (SIGTERM)."""

    def __init__(self, inner: RelayTransport, stop: asyncio.Event) -> None:
        self.inner, self.stop = inner, stop

    async def send(self, raw: bytes, mail_from: str, recipients: list[str]) -> None:
        await self.inner.send(raw, mail_from, recipients)
        self.stop.set()


async def test_stop_releases_the_undelivered_claims(app: App) -> None:
    relay = await CapturingRelay().start()
    try:
        now = app.clock()
        with app.db.transaction() as session:
            for n in range(5):
                mail = OutgoingMail(
                    kind="reply",
                    ticket_id=None,
                    from_address="support@example.com",
                    from_name="Support",
                    to=(f"client{n}@example.org",),
                    subject=f"Mail {n}",
                    text="Hello",
                    message_id=f"shutdown-{n}@example.com",
                    automatic=False,
                )
                enqueue(session, mail, now)
        stop = asyncio.Event()
        transport = StopAfterFirst(
            RelayTransport(RelayConfig.from_url(f"smtp://127.0.0.1:{relay.port}")), stop
        )
        worker = OutboxWorker(app.db, transport, clock=app.clock, lease_seconds=300, batch=10)
        attempted = await worker.run_once(stop)
        assert attempted == 1 and len(relay.messages) == 1
        with app.db.sessions() as session:
            rows = list(session.scalars(select(OutboxItem).order_by(OutboxItem.id)))
        assert [r.state for r in rows] == [OutboxState.SENT] + [OutboxState.PENDING] * 4
        # Released: another process may claim them now, not after the five-minute lease.
        assert all(r.claimed_until is None for r in rows)
    finally:
        await relay.stop()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_a_slow_worker_does_not_send_rows_another_took_over(app: App) -> None:
    """Worker one claims a batch and stalls past its lease; worker two claims and sends the
    rows; when worker one goes on, it sends none of them a second time."""
    relay = await CapturingRelay().start()
    try:
        clock = Clock(app.clock())
        with app.db.transaction() as session:
            for n in range(3):
                enqueue(session, _mail(n), clock.now)
        transport = RelayTransport(RelayConfig.from_url(f"smtp://127.0.0.1:{relay.port}"))
        one = OutboxWorker(app.db, transport, clock=clock, lease_seconds=60)
        two = OutboxWorker(app.db, transport, clock=clock, lease_seconds=60)
        stalled = await asyncio.to_thread(one._claim)  # one claims, then stalls
        assert len(stalled) == 3
        clock.now += timedelta(seconds=61)
        assert await two.run_once() == 3 and len(relay.messages) == 3
        for item in stalled:  # one wakes up and goes through its batch
            if await asyncio.to_thread(one._renew, item):
                await one._deliver(item)
        assert len(relay.messages) == 3, "a row was sent twice"
    finally:
        await relay.stop()


def _mail(n: int) -> OutgoingMail:
    return OutgoingMail(
        kind="reply",
        ticket_id=None,
        from_address="support@example.com",
        from_name="Support",
        to=(f"client{n}@example.org",),
        subject=f"Mail {n}",
        text="Hello",
        message_id=f"lease-{n}@example.com",
        automatic=False,
    )


class OutboxCommitsLost:
    """Fault injection on the real database: the next ``times`` commits that update the outbox
    (claim, renewal) land, but the worker gets an error instead of the answer, as when the
    link drops during COMMIT."""

    def __init__(self, engine: Engine, times: int) -> None:
        self.engine, self.times, self.renewing, self.fired = engine, times, False, 0
        event.listen(engine, "after_cursor_execute", self._seen)
        event.listen(engine, "commit", self._commit)

    def _seen(self, conn, cursor, statement: str, *args) -> None:  # type: ignore[no-untyped-def]
        self.renewing = statement.lstrip().upper().startswith("UPDATE OUTBOX")

    def _commit(self, conn) -> None:  # type: ignore[no-untyped-def]
        if self.renewing and self.fired < self.times:
            self.fired += 1
            conn.connection.dbapi_connection.commit()
            raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

    def remove(self) -> None:
        event.remove(self.engine, "after_cursor_execute", self._seen)
        event.remove(self.engine, "commit", self._commit)


async def test_rows_claimed_before_a_database_error_go_out_on_the_next_pass(app: App) -> None:
    """A claim, then a renewal, whose commit landed unseen must not strand the batch until
    its lease ends: the pass after sends every row, each once."""
    relay = await CapturingRelay().start()
    try:
        with app.db.transaction() as session:
            for n in range(3):
                enqueue(session, _mail(n), app.clock())
        transport = RelayTransport(RelayConfig.from_url(f"smtp://127.0.0.1:{relay.port}"))
        worker = OutboxWorker(app.db, transport, clock=app.clock, lease_seconds=300)
        fault = OutboxCommitsLost(app.db.engine, times=2)
        try:
            for _ in range(2):
                with pytest.raises(OperationalError):
                    await worker.run_once()
        finally:
            fault.remove()
        assert fault.fired == 2 and relay.messages == []
        assert await worker.run_once() == 3
        assert len(relay.messages) == 3, "the batch waited for its lease or went out twice"
        with app.db.sessions() as session:
            states = list(session.scalars(select(OutboxItem.state)))
        assert states == [OutboxState.SENT] * 3
    finally:
        await relay.stop()


async def test_releasing_leaves_rows_another_process_took_over(app: App) -> None:
    """A worker that stops after its lease ran out must not clear the new owner's lease:
    a third worker would then send the rows a second time."""
    clock = Clock(app.clock())
    with app.db.transaction() as session:
        for n in range(2):
            enqueue(session, _mail(n), clock.now)
    transport = RelayTransport(RelayConfig.from_url("smtp://127.0.0.1:9"))  # never reached
    one = OutboxWorker(app.db, transport, clock=clock, lease_seconds=60)
    two = OutboxWorker(app.db, transport, clock=clock, lease_seconds=60)
    stale = await asyncio.to_thread(one._claim)
    clock.now += timedelta(seconds=61)
    taken = await asyncio.to_thread(two._claim)
    assert [c.id for c in taken] == [c.id for c in stale]
    await asyncio.to_thread(one._release, stale)
    with app.db.sessions() as session:
        leases = list(session.scalars(select(OutboxItem.claimed_until).order_by(OutboxItem.id)))
    assert leases == [taken[0].lease, taken[1].lease], "the new owner's claim was released"
    await asyncio.to_thread(two._release, taken)
    with app.db.sessions() as session:
        assert list(session.scalars(select(OutboxItem.claimed_until))) == [None, None]
