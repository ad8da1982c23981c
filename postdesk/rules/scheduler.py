"""Run the time-based rules in one process only: the leader.

On PostgreSQL the leader holds ``pg_try_advisory_lock`` on a dedicated connection kept open;
if that process dies the server drops the lock and another process takes over at its next
try. On SQLite there is one process, and it leads. The leader runs APScheduler 3 with a
memory job store (a shared job store ran jobs twice per tick, PITFALLS.md); the job itself is
idempotent, so a tick that overlaps a change of leader does no harm.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Connection, text

from postdesk.store.db import Database

log = logging.getLogger(__name__)
LOCK_KEY = 0x706F7374_6465736B & 0x7FFFFFFFFFFFFFFF  # "postdesk": one key for the rules leader


class LeaderLock:
    """``try_acquire`` once per interval; ``alive`` checks the lock is still ours."""

    def __init__(self, db: Database, key: int = LOCK_KEY) -> None:
        self.db = db
        self.key = key
        self._conn: Connection | None = None
        self._sqlite_held = False  # SQLite: one process, which always leads

    def try_acquire(self) -> bool:
        if not self.db.is_postgres:
            self._sqlite_held = True
            return True
        if self._conn is not None:
            return True
        conn = self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}))
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def alive(self) -> bool:
        if not self.db.is_postgres:
            return self._sqlite_held
        if self._conn is None:
            return False
        try:
            self._conn.scalar(text("SELECT 1"))
            return True
        except Exception:
            log.warning("leader connection lost; giving up the time-based rules")
            self._drop()
            return False

    def release(self) -> None:
        self._sqlite_held = False
        if self._conn is None:
            return
        with contextlib.suppress(Exception):  # closing the connection releases it anyway
            self._conn.scalar(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
        self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()  # never hand a connection that held the lock back to the pool
            finally:
                conn.close()


class TimeRules:
    """APScheduler running ``job(now)`` every ``seconds`` while this process leads."""

    def __init__(self, job: Callable[[datetime], object], seconds: float) -> None:
        self.job = job
        self.seconds = seconds
        self._scheduler: BackgroundScheduler | None = None

    def start(self) -> None:
        if self._scheduler is not None:
            return
        scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=UTC,
        )
        scheduler.add_job(
            self._tick, "interval", seconds=self.seconds, next_run_time=datetime.now(UTC)
        )
        scheduler.start()
        self._scheduler = scheduler

    def stop(self) -> None:
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=True)

    @property
    def running(self) -> bool:
        return self._scheduler is not None

    def _tick(self) -> None:
        try:
            self.job(datetime.now(UTC))
        except Exception:
            log.exception("time-based rules failed; next tick retries")


async def lead(
    lock: LeaderLock,
    rules: TimeRules,
    stop: asyncio.Event,
    *,
    retry_seconds: float = 5.0,
    on_change: Callable[[bool], None] | None = None,
) -> None:
    """Try to lead every ``retry_seconds``; run the scheduler while leading; stop on ``stop``."""
    try:
        while not stop.is_set():
            leading = rules.running
            try:
                now_leading = (
                    await asyncio.to_thread(lock.alive)
                    if leading
                    else await asyncio.to_thread(lock.try_acquire)
                )
            except Exception as exc:
                log.warning("leader election failed: %s", exc)
                now_leading = False
            if now_leading and not leading:
                log.info("this process leads: running the time-based rules")
                rules.start()
            elif leading and not now_leading:
                await asyncio.to_thread(rules.stop)
            if on_change is not None and now_leading != leading:
                on_change(now_leading)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=retry_seconds)
    finally:
        await asyncio.to_thread(rules.stop)
        await asyncio.to_thread(lock.release)
