"""Parsing and classifying SMTP mail in worker processes, beside the acceptor thread.

Parsing is a third of the CPU a new message costs and needs nothing but the bytes, the
blob store and the signing keys, yet on one interpreter it takes turns with the database
work for the GIL. So each message is handed to a worker process as soon as its DATA is in,
and by the time the acceptor reaches it (it was busy with the batch before) it is usually
parsed: the two overlap on two cores (``benchmarks/ingest.py``).

Each worker has a pipe for jobs and one for answers, and no thread of the gateway stands
between them: the event loop writes a job straight into the pipe, and the acceptor reads
the answer when it wants it. (``concurrent.futures.ProcessPoolExecutor`` passes both
through threads of its own, which must win the GIL from the busy acceptor each time: a
parse took 4.7 ms from hand-over to result, median, for 1.5 ms of parsing, under
``benchmarks/cpu_split.py --pg``.) A job the
pipe has no room for now is parsed by the acceptor, so the event loop never waits.

The workers only read and compute; the one thing they write is attachment blobs, which
are content-addressed and fsync'd as in-process parsing writes them. Whatever goes wrong
in a worker (a parse error, a worker killed) costs only time: the pipeline parses that
message itself, so its error, if any, is raised and recorded where it always was.
Workers are forked from a forkserver that has the parser imported (cheap to start, and
never a fork of the threaded gateway), and one that has gone is replaced.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import logging
import mmap
import multiprocessing
import os
import pickle
import struct
import termios
import threading
import time
from collections.abc import Sequence
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Protocol

from postdesk.gateway import logs
from postdesk.gateway.parser_process import Understood, serve, understand

__all__ = ["MAX_WORKER_BYTES", "ParseWorkers", "Parsed", "Understood", "WorkerGone", "understand"]

log = logging.getLogger(__name__)

# Larger messages are parsed by the acceptor itself: copying them to a worker and keeping
# the worker's memory at their size costs more than the overlap gains.
MAX_WORKER_BYTES = 1024 * 1024
# Workers that end this many times within the window (they cannot start, or die at once)
# are given up: the gateway parses everything itself from then on, and says so.
GIVE_UP_AFTER, GIVE_UP_WINDOW = 3, 60.0
PIPE_BYTES = 1024 * 1024  # Linux's default limit for an unprivileged process
UNKNOWN_PIPE_BYTES = 16 * 1024  # where a pipe's size cannot be read: the smallest usual one
PAGE = mmap.PAGESIZE  # a pipe holds its bytes in pages
WRITES_PER_JOB = 3  # the pickled header; the message's length; the message
_PRELOAD = ["postdesk.gateway.parser_process"]


class ParseJob(Protocol):
    def result(self) -> Understood: ...


# A message's parse begun in a worker process, or None when it is left to the acceptor.
Parsed = ParseJob | None


class WorkerGone(Exception):
    """The worker ended before it answered, or its parse failed there."""


class _Job:
    """One message's parse in a worker: ``result`` reads its answer when it is wanted."""

    __slots__ = ("_worker", "done", "error", "seq", "value")

    def __init__(self, worker: _Worker, seq: int) -> None:
        self._worker = worker
        self.seq = seq
        self.done = False
        self.value: Understood | None = None
        self.error: str | None = None

    def result(self) -> Understood:
        if not self.done:
            self._worker.read_until(self)
        if self.value is None:
            raise WorkerGone(self.error or "no answer")
        return self.value


class _Worker:
    """One parser process and its two pipes."""

    def __init__(self, context: ForkServerContext, args: tuple[object, ...]) -> None:
        jobs_in, self._jobs = context.Pipe(duplex=False)
        self._answers, answers_out = context.Pipe(duplex=False)
        self.process = context.Process(
            target=serve, args=(jobs_in, answers_out, *args), name="postdesk-parser", daemon=True
        )
        try:
            self._room = _widen(self._jobs.fileno())
            _widen(answers_out.fileno())
            self.process.start()
        except BaseException:
            self._jobs.close()
            self._answers.close()
            raise
        finally:
            jobs_in.close()  # the worker has its own copies now
            answers_out.close()
        self._seq = itertools.count()
        self._send_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._waiting: dict[int, _Job] = {}  # sent, not answered yet
        self.gone = False

    def submit(self, raw: bytes, envelope_from: str) -> _Job | None:
        """Send the job if the pipe has room for it now; never waits for the worker."""
        with self._send_lock:
            if self.gone or not self._fits(len(raw)):
                return None
            job = _Job(self, next(self._seq))
            self._waiting[job.seq] = job
            try:
                self._jobs.send_bytes(pickle.dumps((job.seq, envelope_from)))
                self._jobs.send_bytes(raw)
            except OSError:  # the worker has gone (EPIPE)
                self._waiting.pop(job.seq, None)
                self.gone = True
                return None
        return job

    def _fits(self, size: int) -> bool:
        try:
            queued = struct.unpack(
                "i", fcntl.ioctl(self._jobs.fileno(), termios.FIONREAD, b"\0" * 4)
            )[0]
        except OSError:  # the pipe's fill cannot be read: never risk a send that waits
            return False
        return job_fits(queued, len(self._waiting), size, self._room)

    def read_until(self, job: _Job) -> None:
        """Read answers, which come in the order of the jobs, until ``job``'s is in."""
        with self._read_lock:
            while not job.done:
                try:
                    seq, value, error = pickle.loads(self._answers.recv_bytes())
                except (EOFError, OSError) as exc:
                    self._lost(f"the parser process ended ({type(exc).__name__})")
                    return
                except Exception as exc:  # an answer that cannot be read: trust none after it
                    self._lost(f"an answer could not be read ({type(exc).__name__}: {exc})")
                    return
                answered = self._waiting.pop(seq, None)
                if answered is not None:
                    answered.value, answered.error, answered.done = value, error, True

    def _lost(self, why: str) -> None:
        self.gone = True
        with self._send_lock:
            waiting, self._waiting = self._waiting, {}
        for job in waiting.values():
            job.error, job.done = why, True

    def close(self, timeout: float) -> None:
        """End the worker once it has finished what it has; answers nobody asked for are
        read and dropped on the way, so that it never waits on a full answer pipe."""
        with self._send_lock:
            self.gone = True
            self._jobs.close()  # the worker reads the jobs still in the pipe, then EOF
        deadline = time.monotonic() + timeout
        with self._read_lock:
            with contextlib.suppress(EOFError, OSError):
                while self._answers.poll(max(0.0, deadline - time.monotonic())):
                    self._answers.recv_bytes()
            self.process.join(max(0.0, deadline - time.monotonic()))
            if self.process.is_alive():
                self.process.kill()
                self.process.join(timeout)
            self._answers.close()
        self._lost("the parser processes were closed")


def job_fits(queued: int, unanswered: int, size: int, capacity: int, page: int = PAGE) -> bool:
    """Whether a job of ``size`` bytes goes into a pipe of ``capacity`` bytes, holding
    ``queued`` unread bytes, without waiting. A pipe fills by pages and a write may start a
    new one, so bytes count in pages, with a part-filled page for every write of each job
    not answered yet (some may have been read already: this errs on the safe side)."""
    pages = -(-queued // page) + WRITES_PER_JOB * unanswered
    return pages + -(-size // page) + WRITES_PER_JOB <= capacity // page


def _widen(fd: int) -> int:
    """Make the pipe hold ``PIPE_BYTES`` if it may (else as much as it may); its size."""
    setter = getattr(fcntl, "F_SETPIPE_SZ", None)
    getter = getattr(fcntl, "F_GETPIPE_SZ", None)
    if setter is None or getter is None:
        return UNKNOWN_PIPE_BYTES
    now = int(fcntl.fcntl(fd, getter))
    for size in (PIPE_BYTES, _pipe_max_size()):
        if size > now:
            with contextlib.suppress(OSError):  # more than this process may have
                return int(fcntl.fcntl(fd, setter, size))
    return now


def _pipe_max_size() -> int:
    """The largest pipe an unprivileged process may ask for (Linux), or 0."""
    try:
        return int(Path("/proc/sys/fs/pipe-max-size").read_text())
    except (OSError, ValueError):
        return 0


class ParseWorkers:
    """``processes`` parser processes; ``submit`` returns None when a message is better
    parsed in the caller (too large, its worker busy or still starting, or closed)."""

    def __init__(
        self,
        blob_dir: Path,
        keys: Sequence[bytes],
        processes: int,
        *,
        gateway: int | None = None,  # the pid the workers end with; default this process
    ) -> None:
        self._args = (gateway or os.getpid(), blob_dir, tuple(keys), logs.configured)
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(_PRELOAD)
        self._slots: list[_Worker | None] = [None] * max(1, processes)
        self._next = itertools.cycle(range(len(self._slots)))
        self._changed = threading.Condition()
        self._starting = 0
        self._closed = False
        self._ended: list[float] = []  # when workers were found gone, within GIVE_UP_WINDOW
        for slot in range(len(self._slots)):
            self._start(slot)

    def _start(self, slot: int, delay: float = 0.0) -> None:
        """Start the slot's worker in a thread of its own: the first start also starts the
        forkserver, about a second, which neither the gateway's start nor the event loop
        waits for (``submit`` says None until then, and the acceptor parses). A worker that
        cannot start counts as one that ended, and is tried again a second later."""

        def start() -> None:
            time.sleep(delay)
            worker: _Worker | None = None
            try:
                worker = _Worker(self._context, self._args)
            except Exception:
                log.exception("could not start a parser process")
            with self._changed:
                self._starting -= 1
                retry = worker is None and not self._closed and self._went_on_after_end()
                if worker is not None and self._closed:
                    threading.Thread(target=worker.close, args=(5.0,), daemon=True).start()
                elif worker is not None:
                    self._slots[slot] = worker
                self._changed.notify_all()
            if retry:
                self._start(slot, delay=1.0)

        with self._changed:
            self._starting += 1
        threading.Thread(target=start, name="parser-start", daemon=True).start()

    def started(self, timeout: float) -> bool:
        """Wait until no worker is starting; whether every slot has one."""
        with self._changed:
            self._changed.wait_for(lambda: self._starting == 0, timeout)
            return not self._closed and all(w is not None for w in self._slots)

    def submit(self, raw: bytes, envelope_from: str) -> Parsed:
        if len(raw) > MAX_WORKER_BYTES or self._closed:
            return None
        slot = next(self._next)
        worker = self._slots[slot]
        if worker is None:
            return None
        if not worker.gone:
            job = worker.submit(raw, envelope_from)
            if job is not None or not worker.gone:
                return job
        self._replace(slot, worker)
        return None  # this one is parsed by the acceptor

    def _replace(self, slot: int, worker: _Worker) -> None:
        with self._changed:
            if self._slots[slot] is not worker or self._closed:
                return
            self._slots[slot] = None
            go_on = self._went_on_after_end()
        # Gone for this gateway, perhaps not ended: close its pipes, and it ends.
        threading.Thread(target=worker.close, args=(5.0,), name="parser-end", daemon=True).start()
        if go_on:
            log.warning("a parser process ended; starting a new one")
            self._start(slot)

    def _went_on_after_end(self) -> bool:
        """Count a worker that ended (or could not start); False once they are given up.
        Called holding ``_changed``."""
        now = time.monotonic()
        self._ended = [t for t in self._ended if now - t < GIVE_UP_WINDOW] + [now]
        if len(self._ended) < GIVE_UP_AFTER:
            return True
        log.error(
            "parser processes ended %d times within %.0f s; parsing in the gateway "
            "from now on (restart it to try them again)",
            len(self._ended),
            GIVE_UP_WINDOW,
        )
        self._closed = True
        self._changed.notify_all()
        return False

    def pids(self) -> set[int]:
        """The worker processes now in use."""
        return {w.process.pid for w in self._slots if w is not None and w.process.pid}

    def close(self, timeout: float = 30.0) -> None:
        with self._changed:
            self._closed = True
            workers = [w for w in self._slots if w is not None]
            self._slots = [None] * len(self._slots)
        for worker in workers:
            worker.close(timeout)
