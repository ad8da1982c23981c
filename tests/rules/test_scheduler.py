"""The time-based rules run in the leader only: the advisory lock, take-over, and the wiring
into ``Gateway`` (scheduler ticking with the app's clock)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from postdesk.clock import FakeClock
from postdesk.gateway.app import App
from postdesk.gateway.serve import Gateway
from postdesk.gateway.settings import Settings
from postdesk.rules.scheduler import LeaderLock
from postdesk.store.db import Database
from postdesk.store.models import Ticket
from tests.support import with_settings

ROOT = Path(__file__).resolve().parents[2]


def test_one_leader_at_a_time(database_url: str) -> None:
    a, b = Database(database_url), Database(database_url)
    first, second = LeaderLock(a), LeaderLock(b)
    try:
        assert first.try_acquire() and first.alive()
        if a.is_postgres:
            assert not second.try_acquire()  # the other process waits its turn
            first.release()
            assert second.try_acquire() and second.alive()
            assert not first.try_acquire()
        else:
            assert second.try_acquire()  # SQLite: one process, which leads
    finally:
        first.release()
        second.release()
        a.dispose()
        b.dispose()


@pytest.mark.postgres
def test_a_killed_leader_is_replaced(postgres_server) -> None:  # type: ignore[no-untyped-def]
    """Bonus of issue 9: another process takes over within 30 s of the leader's death."""
    if postgres_server is None:
        pytest.skip("PostgreSQL not reachable")
    url = postgres_server.url
    code = (
        "import sys, time\n"
        "from postdesk.store.db import Database\n"
        "from postdesk.rules.scheduler import LeaderLock\n"
        f"lock = LeaderLock(Database({url!r}))\n"
        "assert lock.try_acquire()\n"
        "print('leading', flush=True)\n"
        "time.sleep(300)\n"
    )
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    leader = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env)
    db = Database(url)
    follower = LeaderLock(db)
    try:
        assert leader.stdout is not None and leader.stdout.readline().strip() == b"leading"
        assert not follower.try_acquire()
        leader.kill()
        leader.wait()
        deadline = time.monotonic() + 30
        while not follower.try_acquire():
            assert time.monotonic() < deadline, "nobody took over within 30 s"
            time.sleep(0.2)
        assert follower.alive()
    finally:
        if leader.poll() is None:
            leader.kill()
            leader.wait()
        follower.release()
        db.dispose()


async def test_serve_runs_the_time_rules_on_its_clock(settings: Settings) -> None:
    clock = FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    settings = with_settings(settings, rules_tick_seconds=0.2)
    app = App(settings, clock=clock)
    with app.db.transaction() as s:
        s.add(Ticket(subject="done", status="resolved", resolved_at=clock.now, tags=[], fields={}))
    gateway = Gateway(app)
    await gateway.start(smtp=False, outbox=False, imap=False, scheduler=True)
    try:
        clock.advance(days=settings.reopen_window_days, hours=1)
        for _ in range(100):  # wait (up to ~10 s) for a tick; not a timing assertion
            with app.db.sessions() as s:
                status = s.scalars(select(Ticket.status)).one()
            if status == "closed":
                break
            await asyncio.sleep(0.1)
        assert status == "closed"
        assert gateway.time_rules is not None and gateway.time_rules.running
    finally:
        await gateway.stop()
        app.close()
    assert not gateway.time_rules.running
