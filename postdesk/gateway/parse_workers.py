"""Parsing and classifying SMTP mail in worker processes, beside the acceptor thread.

Parsing is a third of the CPU a new message costs and needs nothing but the bytes, the
blob store and the signing keys, yet on one interpreter it takes turns with the database
work for the GIL. So each message is handed to a worker process as soon as its DATA is in,
and by the time the acceptor reaches it (it was busy with the batch before) it is usually
parsed: the two overlap on two cores (``benchmarks/ingest.py``).

The workers only read and compute; the one thing they write is attachment blobs, which
are content-addressed and fsync'd as in-process parsing writes them. Whatever goes wrong
in a worker (a parse error, a worker killed, the pool broken) costs only time: the
pipeline parses that message itself, so its error, if any, is raised and recorded where it
always was. Workers are forked from a forkserver that has the parser imported (cheap to
start, and never a fork of the threaded gateway), and a broken pool is replaced.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import logging
import multiprocessing
import os
import select
import threading
import time
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from structlog.contextvars import bound_contextvars

from postdesk.contracts import BlobStore
from postdesk.gateway import logs
from postdesk.gateway.receive import QuickHeaders, quick_headers
from postdesk.inbound.classify import Classification, classify
from postdesk.inbound.message import InboundMessage
from postdesk.inbound.parse import parse_message
from postdesk.store.blobs import FileBlobStore

log = logging.getLogger(__name__)

# Larger messages are parsed by the acceptor itself: copying them to a worker and keeping
# the worker's memory at their size costs more than the overlap gains.
MAX_WORKER_BYTES = 1024 * 1024
# Pools that break this many times within the window (workers that cannot start, or die at
# once) are given up: the gateway parses everything itself from then on, and says so.
GIVE_UP_AFTER, GIVE_UP_WINDOW = 3, 60.0
_PRELOAD = ["postdesk.gateway.parse_workers"]


@dataclass(frozen=True, slots=True)
class Understood:
    """A message parsed and classified, before any transaction."""

    quick: QuickHeaders
    inbound: InboundMessage
    verdict: Classification


# A message's parse begun in a worker process, or None when it is left to the acceptor.
Parsed = concurrent.futures.Future[Understood] | None


def understand(
    blobs: BlobStore, keys: Sequence[bytes], raw: bytes, envelope_from: str, content_hash: str
) -> Understood:
    """Parse and classify ``raw`` (the slow, pure part of receiving a message)."""
    quick = quick_headers(raw, content_hash)
    with bound_contextvars(message_id=quick.message_id):
        inbound = parse_message(raw, blobs)
        verdict = classify(inbound, raw, envelope_from=envelope_from, keys=keys)
    return Understood(quick, inbound, verdict)


# In a worker process: what ``_start`` was given.
_worker_blobs: BlobStore | None = None
_worker_keys: tuple[bytes, ...] = ()


def _start(
    gateway: int, blob_dir: Path, keys: tuple[bytes, ...], log_mode: tuple[bool, bool] | None
) -> None:
    global _worker_blobs, _worker_keys
    _end_with(gateway)
    _worker_blobs, _worker_keys = FileBlobStore(blob_dir), keys
    if log_mode is not None:  # the gateway's format; else Python's default (warnings on stderr)
        json, verbose = log_mode
        logs.configure_logging(json=json, verbose=verbose)


def _end_with(gateway: int) -> None:
    """End this worker when the gateway process ends, however it ends: a worker waits on
    a queue whose writing end it holds itself, so it would never notice a SIGKILL."""
    try:
        handle: int | None = os.pidfd_open(gateway)
    except ProcessLookupError:
        os._exit(0)
    except (AttributeError, OSError):  # not Linux 5.3 or later: look once a second
        handle = None

    def watch() -> None:
        if handle is not None:
            select.select([handle], [], [])  # readable once that process has exited
        else:
            while _alive(gateway):
                time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="gateway-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _understand_in_worker(raw: bytes, envelope_from: str) -> Understood:
    assert _worker_blobs is not None, "worker not started"
    content_hash = hashlib.sha256(raw).hexdigest()
    return understand(_worker_blobs, _worker_keys, raw, envelope_from, content_hash)


class ParseWorkers:
    """A pool of ``processes`` parser processes; ``submit`` returns None when a message is
    better parsed in the caller (too large, the workers still starting, or closed)."""

    def __init__(
        self,
        blob_dir: Path,
        keys: Sequence[bytes],
        processes: int,
        *,
        gateway: int | None = None,  # the pid the workers end with; default this process
    ) -> None:
        self._args = (gateway or os.getpid(), blob_dir, tuple(keys), logs.configured)
        self._processes = max(1, processes)
        self._lock = threading.Lock()
        self._closed = False
        self._broken: list[float] = []  # when pools broke, within GIVE_UP_WINDOW
        self._pool = self._new_pool()

    def _new_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        """A pool whose first worker starts in a thread of its own: starting the forkserver
        takes about a second, which neither the gateway's start nor the event loop waits
        for (``submit`` says None until then, and the acceptor parses)."""
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        pool = concurrent.futures.ProcessPoolExecutor(
            self._processes, mp_context=context, initializer=_start, initargs=self._args
        )
        ready = self._ready = threading.Event()

        def warm_up() -> None:
            # Broken at once: the next ``submit`` finds out, and says so.
            with contextlib.suppress(Exception):
                pool.submit(int).result()
            ready.set()

        threading.Thread(target=warm_up, name="parser-start", daemon=True).start()
        return pool

    def started(self, timeout: float) -> bool:
        """Wait until the workers have started (or failed to); whether they have."""
        return self._ready.wait(timeout)

    def submit(self, raw: bytes, envelope_from: str) -> Parsed:
        if len(raw) > MAX_WORKER_BYTES:
            return None
        with self._lock:
            if self._closed or not self._ready.is_set():
                return None
            try:
                return self._pool.submit(_understand_in_worker, raw, envelope_from)
            except BrokenProcessPool:
                self._pool.shutdown(wait=False, cancel_futures=True)
                now = time.monotonic()
                self._broken = [t for t in self._broken if now - t < GIVE_UP_WINDOW] + [now]
                if len(self._broken) >= GIVE_UP_AFTER:
                    log.error(
                        "the parser processes stopped %d times within %.0f s; parsing in the "
                        "gateway from now on (restart it to try them again)",
                        len(self._broken),
                        GIVE_UP_WINDOW,
                    )
                    self._closed = True
                    return None
                log.warning("the parser processes stopped; starting new ones")
                self._pool = self._new_pool()
                return None  # this one is parsed by the acceptor

    def pids(self) -> set[int]:
        """The worker processes of the pool now in use (started on demand)."""
        with self._lock:
            processes = getattr(self._pool, "_processes", None) or {}
            return set(processes)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool = self._pool
        pool.shutdown(wait=True, cancel_futures=True)
