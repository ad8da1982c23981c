"""The SMTP/LMTP listener's messages, accepted in batches by a thread of their own.

Each session hands its message over and waits; the thread takes whatever has arrived since
its last batch (up to ``max_batch`` messages or ``max_bytes``) and accepts them together:
every blob written and fsync'd, then one transaction and one commit for all of them, and
only then is each sender answered (``accept.accept_many``). Nothing waits to fill a batch:
under light load a batch is one message, and batches grow with the load, which spreads one
commit (and, on SQLite, one turn of the single writer) over many messages.

Why one thread and not one per session: the work is Python on the GIL, and threads taking
turns at it cost more than they overlap (``benchmarks/ingest.py`` on SQLite, four runs
each: 96 msg/s against 75 when each session's worker thread did its own). On PostgreSQL,
where much of a batch is waiting for the server, ``serve`` starts two (``threads``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from postdesk.contracts import TemporaryFailure
from postdesk.gateway.accept import Accepted
from postdesk.inbound.message import Envelope

log = logging.getLogger(__name__)

AcceptMany = Callable[[Sequence[tuple[bytes, Envelope]]], list[Accepted | Exception]]
MAX_BATCH = 16
MAX_BATCH_BYTES = 8 * 1024 * 1024  # one large message is a batch of its own


class AcceptorStopped(TemporaryFailure):
    """The gateway is shutting down; the sender should deliver again later."""


@dataclass
class _Item:
    raw: bytes
    envelope: Envelope
    future: concurrent.futures.Future[Accepted] = field(default_factory=concurrent.futures.Future)


class BatchAcceptor:
    def __init__(
        self,
        accept_many: AcceptMany,
        *,
        threads: int = 1,
        max_batch: int = MAX_BATCH,
        max_bytes: int = MAX_BATCH_BYTES,
    ) -> None:
        self._accept_many = accept_many
        self._counts = threading.Lock()
        self.max_batch = max(1, max_batch)
        self.max_bytes = max_bytes
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._run, name=f"smtp-accept-{n}", daemon=True)
            for n in range(max(1, threads))
        ]
        self._running = 0  # threads not yet ended
        self._started = False
        self._lock = threading.Lock()  # nothing is queued behind the stop markers
        self._stopping = False
        self.batches = 0  # batches written, and the messages in them (the benchmarks read these)
        self.messages = 0

    @property
    def stopping(self) -> bool:
        return self._stopping

    def queued(self) -> int:
        """Messages waiting for the next batch."""
        return self._queue.qsize()

    def start(self) -> None:
        self._started = True
        self._running = len(self._threads)
        for thread in self._threads:
            thread.start()

    async def accept(self, raw: bytes, envelope: Envelope) -> Accepted:
        """Accept one message; raises what ``accept_message`` would raise for it."""
        item = _Item(raw, envelope)
        with self._lock:
            if self._stopping or not self._started:
                raise AcceptorStopped("the gateway is shutting down, please try again later")
            self._queue.put(item)
        return await asyncio.wrap_future(item.future)

    def stop(self, timeout: float = 30.0) -> None:
        """Accept what is queued, then end the threads (new messages get ``AcceptorStopped``)."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            for _ in self._threads:
                self._queue.put(None)  # one stop marker per thread, behind everything queued
        if self._started:
            for thread in self._threads:
                thread.join(timeout)

    def _run(self) -> None:
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                batch, done = self._take_more([first])
                self._accept(batch)
                if done:
                    return
        finally:
            with self._lock:
                self._running -= 1
                last = self._running == 0
            if last:
                self._refuse_rest()

    def _refuse_rest(self) -> None:
        """When the last thread has ended (early, by a bug, or at stop with nothing left):
        nobody may wait for an answer that never comes."""
        with self._lock:
            self._stopping = True
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None and item.future.set_running_or_notify_cancel():
                item.future.set_exception(AcceptorStopped("the gateway is shutting down"))

    def _take_more(self, batch: list[_Item]) -> tuple[list[_Item], bool]:
        """Add what is already waiting, without waiting for more; True: stop after this."""
        size = len(batch[0].raw)
        while len(batch) < self.max_batch and size < self.max_bytes:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch, False
            if item is None:
                return batch, True
            batch.append(item)
            size += len(item.raw)
        return batch, False

    def _accept(self, batch: list[_Item]) -> None:
        for item in batch:
            # A session that went away meanwhile still has its message stored (its sender
            # retries and is recognised); only the answer has nobody to go to.
            item.future.set_running_or_notify_cancel()
        try:
            outcomes = self._accept_many([(item.raw, item.envelope) for item in batch])
        except Exception as exc:  # accept_many answers for each message; this is a bug
            log.exception("accepting a batch of %d crashed", len(batch))
            outcomes = [exc] * len(batch)
        with self._counts:
            self.batches += 1
            self.messages += len(batch)
        for item, outcome in zip(batch, outcomes, strict=True):
            if item.future.cancelled():
                continue
            if isinstance(outcome, Exception):
                item.future.set_exception(outcome)
            else:
                item.future.set_result(outcome)
