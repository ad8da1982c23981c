"""Engines and sessions for SQLite (WAL, BEGIN IMMEDIATE) and PostgreSQL (psycopg 3).

SQLite: the driver's implicit transactions ran the first SELECT outside the transaction and
gave duplicate rows under several writers (PITFALLS.md), so the driver's own transaction
handling is turned off and every transaction starts with ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from postdesk.store import held_writes

WRITER_WAIT_SECONDS = 30.0  # as long as SQLite's busy_timeout


def make_engine(url: str, *, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url, echo=echo)
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    engine = create_engine(url, echo=echo, pool_size=10, max_overflow=20)
    _ping_when_idle(engine)
    if engine.dialect.name == "postgresql":
        # Writes that wait to share a round trip (``Prepared.later``) go before anything else
        # the connection runs, with its COMMIT, and nowhere after a ROLLBACK. (``before_execute``:
        # a statement of SQLAlchemy's; prepared ones send them themselves.)
        event.listen(engine, "before_execute", held_writes.send_pending)
        event.listen(engine, "commit", held_writes.commit_pending)
        event.listen(engine, "rollback", held_writes.drop_pending)
    return engine


IDLE_PING_SECONDS = 5.0


def _ping_when_idle(engine: Engine) -> None:
    """Test a pooled connection before use when it has been idle ``IDLE_PING_SECONDS``: a
    server restart or a firewall may have ended it meanwhile, and a message should not fail
    for that. ``pool_pre_ping`` did so at every checkout, a round trip per transaction,
    while a connection in steady use is known to be alive. If the server goes away between
    uses, the failed statement renews the whole pool (SQLAlchemy's error handling, also for
    prepared statements): the sender is asked to retry and the next attempt connects
    afresh."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi: Any, record: Any) -> None:
        held_writes.forget(record.info)  # a transaction that ended unseen leaves nothing
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
            return  # a new connection, or one just given back
        try:
            engine.dialect.do_ping(dbapi)
        except Exception as exc:  # the pool connects again (and tries up to three times)
            raise DisconnectionError(f"pooled connection went away: {exc}") from exc


class _WriterConnection(sqlite3.Connection):
    """A SQLite connection that gives back its process's writer lock once its transaction
    has really ended (after COMMIT or ROLLBACK returned, so the next writer never meets
    SQLite's own lock still held)."""

    writer: threading.Lock | None = None
    holds_writer = False

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.release_writer()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.release_writer()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.release_writer()

    def release_writer(self) -> None:
        if self.holds_writer and self.writer is not None:
            self.holds_writer = False
            self.writer.release()


def _sqlite_engine(url: str, *, echo: bool) -> Engine:
    engine = create_engine(
        url,
        echo=echo,
        connect_args={"timeout": 30, "check_same_thread": False, "factory": _WriterConnection},
    )
    # SQLite has one writer. Threads of this process queue on a lock from BEGIN until the
    # transaction ends, so the next one starts the moment the last commit is done instead
    # of polling SQLite's lock with busy_timeout's growing sleeps (1, 2, 5 ... 100 ms).
    # Other processes still meet at SQLite's lock; after a long wait the lock is skipped
    # and SQLite decides, as before.
    writer = threading.Lock()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        if isinstance(dbapi_conn, _WriterConnection):
            dbapi_conn.writer = writer
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")  # a commit survives power loss, not just a crash
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        dbapi_conn = conn.connection.dbapi_connection
        queue = isinstance(dbapi_conn, _WriterConnection) and not dbapi_conn.holds_writer
        if queue and writer.acquire(timeout=WRITER_WAIT_SECONDS):
            dbapi_conn.holds_writer = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            if isinstance(dbapi_conn, _WriterConnection):
                dbapi_conn.release_writer()
            raise

    return engine


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


class Database:
    """The engine plus a session factory; one per process, built by the composition root."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_postgres(self) -> bool:
        return is_postgres(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed when the block ends, rolled back on any exception."""
        with self.sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
