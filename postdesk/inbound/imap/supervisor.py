"""Runs one worker thread per mailbox and stops them all cleanly.

On PostgreSQL several gateway processes may run the supervisor; a session advisory lock per
mailbox, held on a dedicated connection for as long as the worker runs, keeps it to one
poller per mailbox. The others retry the lock now and then and take over if its holder dies.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence

from sqlalchemy import text

from postdesk.contracts import BlobStore
from postdesk.inbound.imap.config import MailboxConfig
from postdesk.inbound.imap.connection import TokenProvider
from postdesk.inbound.imap.worker import MailboxWorker, OnReceived
from postdesk.store.db import Database

log = logging.getLogger(__name__)


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_try_advisory_lock`` from the mailbox name."""
    digest = hashlib.sha256(f"postdesk-imap:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class MailboxSupervisor:
    def __init__(
        self,
        mailboxes: Sequence[MailboxConfig],
        db: Database,
        blobs: BlobStore,
        *,
        on_received: OnReceived | None = None,
        token_provider: TokenProvider | None = None,
        lock_retry_seconds: float = 5.0,
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.on_received = on_received
        self.token_provider = token_provider
        self.stop_event = threading.Event()
        self.lock_retry_seconds = lock_retry_seconds
        self.workers = [self._worker(cfg) for cfg in mailboxes]
        self._threads: list[threading.Thread] = []
        self._stops: dict[str, threading.Event] = {}  # per running mailbox, for reconcile
        self._by_name: dict[str, threading.Thread] = {}  # the latest thread of each mailbox

    def _worker(self, cfg: MailboxConfig) -> MailboxWorker:
        return MailboxWorker(
            cfg,
            self.db,
            self.blobs,
            on_received=self.on_received,
            token_provider=self.token_provider,
        )

    def start(self) -> None:
        for worker in self.workers:
            self._launch(worker)

    def _launch(self, worker: MailboxWorker) -> None:
        stop = threading.Event()
        self._stops[worker.cfg.name] = stop
        thread = threading.Thread(
            target=self._run, args=(worker, stop), daemon=True, name=f"imap-{worker.cfg.name}"
        )
        thread.start()
        self._threads.append(thread)
        self._by_name[worker.cfg.name] = thread

    def reconcile(self, mailboxes: Sequence[MailboxConfig]) -> None:
        """Run exactly ``mailboxes``: stop removed or changed ones, start new ones."""
        wanted = {cfg.name: cfg for cfg in mailboxes}
        for worker in list(self.workers):
            if wanted.get(worker.cfg.name) != worker.cfg:
                log.info("mailbox %s removed or changed: stopping its worker", worker.cfg.name)
                self._stops.pop(worker.cfg.name, threading.Event()).set()
                self.workers.remove(worker)
        for thread in [t for t in self._threads if not t.is_alive()]:
            self._threads.remove(thread)
        running = {w.cfg.name for w in self.workers}
        for name, cfg in wanted.items():
            previous = self._by_name.get(name)
            if previous is not None and previous.is_alive():
                # A stopped worker may be mid-fetch: two pollers on one folder would race on
                # its cursor (SQLite has no lock to keep them apart). The next round starts it.
                continue
            if name not in running and not self.stop_event.is_set():
                worker = self._worker(cfg)
                self.workers.append(worker)
                self._launch(worker)

    def stop(self, timeout: float = 5.0) -> bool:
        """Ask every worker to stop and wait; True when all threads ended in time."""
        self.stop_event.set()
        for stop in self._stops.values():
            stop.set()
        for thread in self._threads:
            thread.join(timeout)
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            log.warning("IMAP workers still running after %.1fs: %s", timeout, ", ".join(alive))
        return not alive

    def _run(self, worker: MailboxWorker, stop: threading.Event) -> None:
        try:
            if self.db.is_postgres:
                self._run_with_lock(worker, stop)
            else:
                worker.run(stop)  # SQLite means one process: no lock to take
        except Exception:
            log.exception("IMAP worker %s ended with an error", worker.cfg.name)

    def _run_with_lock(self, worker: MailboxWorker, stop: threading.Event) -> None:
        key = advisory_key(worker.cfg.name)
        while not stop.is_set():
            with self.db.engine.connect() as conn:
                taken = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
                got = bool(taken.scalar())
                conn.commit()
                if got:
                    try:
                        worker.run(stop)
                    finally:
                        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                        conn.commit()
                    return
            log.info("mailbox %s is polled by another process; retrying", worker.cfg.name)
            stop.wait(self.lock_retry_seconds)
