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
        self.stop_event = threading.Event()
        self.lock_retry_seconds = lock_retry_seconds
        self.workers = [
            MailboxWorker(cfg, db, blobs, on_received=on_received, token_provider=token_provider)
            for cfg in mailboxes
        ]
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for worker in self.workers:
            thread = threading.Thread(
                target=self._run, args=(worker,), daemon=True, name=f"imap-{worker.cfg.name}"
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> bool:
        """Ask every worker to stop and wait; True when all threads ended in time."""
        self.stop_event.set()
        for thread in self._threads:
            thread.join(timeout)
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            log.warning("IMAP workers still running after %.1fs: %s", timeout, ", ".join(alive))
        return not alive

    def _run(self, worker: MailboxWorker) -> None:
        try:
            if self.db.is_postgres:
                self._run_with_lock(worker)
            else:
                worker.run(self.stop_event)  # SQLite means one process: no lock to take
        except Exception:
            log.exception("IMAP worker %s ended with an error", worker.cfg.name)

    def _run_with_lock(self, worker: MailboxWorker) -> None:
        key = advisory_key(worker.cfg.name)
        while not self.stop_event.is_set():
            with self.db.engine.connect() as conn:
                taken = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
                got = bool(taken.scalar())
                conn.commit()
                if got:
                    try:
                        worker.run(self.stop_event)
                    finally:
                        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                        conn.commit()
                    return
            log.info("mailbox %s is polled by another process; retrying", worker.cfg.name)
            self.stop_event.wait(self.lock_retry_seconds)
