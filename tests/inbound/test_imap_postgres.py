"""On PostgreSQL, one poller per mailbox across processes (a session advisory lock)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from postdesk.inbound.imap.supervisor import MailboxSupervisor
from postdesk.store.blobs import FileBlobStore
from postdesk.store.db import Database
from postdesk.store.migrate import upgrade
from postdesk.store.models import InboxItem
from tests.support.dovecot import Dovecot
from tests.support.imap import append, mailbox, message, wait_for

pytestmark = [pytest.mark.dovecot, pytest.mark.postgres]
PG_ADMIN_URL = os.environ.get("POSTDESK_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_url() -> Iterator[str]:
    name = f"postdesk_imap_{uuid.uuid4().hex[:10]}"
    admin = Database(PG_ADMIN_URL)
    try:
        with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        if os.environ.get("CI") or os.environ.get("POSTDESK_REQUIRE_PG"):
            pytest.fail(f"PostgreSQL is required here but unusable: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    url = f"{PG_ADMIN_URL.rpartition('/')[0]}/{name}"
    db = Database(url)
    upgrade(db)
    db.dispose()
    try:
        yield url
    finally:
        with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_one_poller_per_mailbox_and_takeover(
    pg_url: str, dovecot: Dovecot, imap_user: str, tmp_path: Path
) -> None:
    cfg = mailbox(dovecot, imap_user)
    dbs = [Database(pg_url), Database(pg_url)]  # two "processes": two pools, two sessions
    sups = [
        MailboxSupervisor([cfg], db, FileBlobStore(tmp_path / "blobs"), lock_retry_seconds=0.2)
        for db in dbs
    ]
    try:
        for sup in sups:
            sup.start()
        append(dovecot, imap_user, [message(1)])
        wait_for(lambda: _count(dbs[0]) == 1, timeout=10)
        wait_for(lambda: sum(s.workers[0].connects for s in sups) >= 1)
        connects = [s.workers[0].connects for s in sups]
        assert sorted(connects) == [0, 1]  # the other one waits for the lock

        holder = connects.index(1)
        assert sups[holder].stop()
        other = sups[1 - holder]
        wait_for(lambda: other.workers[0].connects == 1, timeout=5)
        append(dovecot, imap_user, [message(2)])
        wait_for(lambda: _count(dbs[0]) == 2, timeout=10)
    finally:
        for sup in sups:
            sup.stop()
        for db in dbs:
            db.dispose()


def _count(db: Database) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(InboxItem)) or 0)
