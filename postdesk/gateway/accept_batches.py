"""The SMTP/LMTP listener's messages, accepted in batches by a thread of their own.

Each session hands its message over and waits; the thread takes whatever has arrived since
its last batch (up to ``max_batch`` messages or ``max_bytes``) and accepts them together:
every blob written and fsync'd, then one transaction and one commit for all of them, and
only then is each sender answered (``accept.accept_many``). Nothing waits to fill a batch:
under light load a batch is one message, and batches grow with the load, which spreads one
commit (and, on SQLite, one turn of the single writer) over many messages.

Why one thread and not one per session: the work is Python on the GIL, and threads taking
turns at it cost more than they overlap (``benchmarks/ingest.py`` on SQLite, four runs
each: 96 msg/s against 75 when each session's worker thread did its own). Why not two on
PostgreSQL: a batch holds the row lock of every ticket it adds to until it commits, so two
batches replying to the same two tickets in turn deadlock (PostgreSQL ends one after a
second); and two gained nothing measurable once parsing had moved out. What does overlap
is parsing in another process: ``parse_early`` (``ParseWorkers.submit``) starts each
message's parse as soon as it is handed over, and the thread takes the result when the
message's turn comes. The price of one thread: a slow message delays the answers of the
messages that arrive behind it.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from postdesk.contracts import TemporaryFailure
from postdesk.gateway.accept import Accepted
from postdesk.gateway.parse_workers import Parsed
from postdesk.inbound.message import Envelope

log = logging.getLogger(__name__)

AcceptMany = Callable[
    [Sequence[tuple[bytes, Envelope]], Sequence[Parsed]],
    list[Accepted | Exception],
]
# Starts parsing a message elsewhere as soon as it is in (``ParseWorkers.submit``).
ParseEarly = Callable[[bytes, str], Parsed]
MAX_BATCH = 16
MAX_BATCH_BYTES = 8 * 1024 * 1024  # one large message is a batch of its own


class AcceptorStopped(TemporaryFailure):
    """The gateway is shutting down; the sender should deliver again later."""


@dataclass
class _Item:
    raw: bytes
    envelope: Envelope
    parsed: Parsed = None
    future: Future[Accepted] = field(default_factory=Future)


class BatchAcceptor:
    def __init__(
        self,
        accept_many: AcceptMany,
        *,
        max_batch: int = MAX_BATCH,
        max_bytes: int = MAX_BATCH_BYTES,
        parse_early: ParseEarly | None = None,
    ) -> None:
        self._accept_many = accept_many
        self._parse_early = parse_early
        self.max_batch = max(1, max_batch)
        self.max_bytes = max_bytes
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="smtp-accept", daemon=True)
        self._started = False
        self._lock = threading.Lock()  # nothing is queued behind the stop marker
        self._stopping = False
        self.batches = 0  # batches written, and the messages in them (the benchmarks read these)
        self.messages = 0
        self.busy_seconds = 0.0  # spent accepting them, and the thread's CPU time of that
        self.cpu_seconds = 0.0

    @property
    def stopping(self) -> bool:
        return self._stopping

    def queued(self) -> int:
        """Messages waiting for the next batch."""
        return self._queue.qsize()

    def start(self) -> None:
        self._started = True
        self._thread.start()

    async def accept(self, raw: bytes, envelope: Envelope) -> Accepted:
        """Accept one message; raises what ``accept_message`` would raise for it."""
        item = _Item(raw, envelope)
        if self._parse_early is not None and not self._stopping:
            item.parsed = self._parse_early(raw, envelope.mail_from[:320])
        with self._lock:
            if self._stopping or not self._started:
                raise AcceptorStopped("the gateway is shutting down, please try again later")
            self._queue.put(item)
        return await asyncio.wrap_future(item.future)

    def stop(self, timeout: float = 30.0) -> None:
        """Accept what is queued, then end the thread (new messages get ``AcceptorStopped``)."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            self._queue.put(None)  # behind everything queued
        if self._started:
            self._thread.join(timeout)

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
            self._refuse_rest()

    def _refuse_rest(self) -> None:
        """Once the thread has ended (at stop, or early through a bug): whatever is still
        queued is refused, so no session waits for an answer that never comes."""
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
        outcomes: list[Accepted | Exception] = []
        began, cpu = time.perf_counter(), time.thread_time()
        try:
            outcomes = self._accept_many(
                [(item.raw, item.envelope) for item in batch], [item.parsed for item in batch]
            )
        except Exception:  # accept_many answers for each message: this is a bug
            log.exception("accepting a batch of %d crashed", len(batch))
        finally:
            # Every sender of the batch is answered, whatever happened (even an exit).
            self.batches += 1
            self.messages += len(batch)
            self.busy_seconds += time.perf_counter() - began
            self.cpu_seconds += time.thread_time() - cpu
            for n, item in enumerate(batch):
                outcome = outcomes[n] if n < len(outcomes) else _failed()
                if item.future.cancelled():
                    continue
                if isinstance(outcome, Exception):
                    item.future.set_exception(outcome)
                else:
                    item.future.set_result(outcome)


def _failed() -> Exception:
    return TemporaryFailure("temporary failure storing the message, try again later")
