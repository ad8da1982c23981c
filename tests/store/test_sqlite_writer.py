"""SQLite writers of one process queue on a lock instead of polling SQLite's busy handler.

The lock must be held from BEGIN until the connection is back in the pool, whatever way the
transaction ends (commit, an exception, a read-only session), or the next writer would wait
for the full busy timeout.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from postdesk.store.db import Database
from postdesk.store.models import Contact
from tests.support.databases import sqlite_copy


@pytest.fixture
def db(tmp_path: Path, sqlite_template: Path) -> Database:
    database = Database(sqlite_copy(sqlite_template, tmp_path))
    yield database
    database.dispose()


def _contacts(db: Database) -> int:
    with db.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Contact)) or 0)


def test_concurrent_writers_all_commit(db: Database) -> None:
    def write(i: int) -> None:
        with db.transaction() as s:
            s.add(Contact(email=f"c{i}@example.org", name=""))
            s.flush()
            time.sleep(0.002)  # hold the write lock a little, as processing does

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(80)))
    assert _contacts(db) == 80


def test_lock_freed_after_a_failed_transaction(db: Database) -> None:
    with pytest.raises(RuntimeError), db.transaction() as s:
        s.add(Contact(email="gone@example.org", name=""))
        s.flush()
        raise RuntimeError("processing failed")
    done = threading.Event()

    def other_thread() -> None:
        with db.transaction() as s:
            s.add(Contact(email="kept@example.org", name=""))
        done.set()

    threading.Thread(target=other_thread).start()
    assert done.wait(5), "the failed transaction kept the writer lock"
    assert _contacts(db) == 1


def test_lock_freed_after_a_read_only_session(db: Database) -> None:
    with db.sessions() as s:
        s.scalar(select(func.count()).select_from(Contact))  # BEGIN IMMEDIATE, no commit
    done = threading.Event()

    def other_thread() -> None:
        with db.transaction() as s:
            s.add(Contact(email="after-read@example.org", name=""))
        done.set()

    threading.Thread(target=other_thread).start()
    assert done.wait(5), "the read-only session kept the writer lock"


def test_a_second_writer_waits_for_the_first_to_finish(db: Database) -> None:
    order: list[str] = []
    first_in = threading.Event()

    def first() -> None:
        with db.transaction() as s:
            s.add(Contact(email="first@example.org", name=""))
            s.flush()
            first_in.set()
            time.sleep(0.3)
            order.append("first committed")

    def second() -> None:
        first_in.wait(5)
        with db.transaction() as s:
            s.add(Contact(email="second@example.org", name=""))
            s.flush()  # the first statement is what begins the transaction
            order.append("second began")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert order == ["first committed", "second began"]
    assert _contacts(db) == 2
