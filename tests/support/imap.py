"""Fixtures and helpers for the IMAP tests: one Dovecot per session, a fresh account per test.

The fixtures are made visible to ``tests/inbound`` by its ``conftest.py``.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient
from sqlalchemy import func, select

from postdesk.inbound.imap.config import MailboxConfig
from postdesk.store.blobs import FileBlobStore
from postdesk.store.db import Database
from postdesk.store.migrate import upgrade
from postdesk.store.models import InboxItem
from tests.support.dovecot import Dovecot, free_port, require_dovecot

_users = itertools.count(1)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    # Not under pytest's tmp dir: as root that is 0700, and Dovecot's own users must enter it.
    root = Path(tempfile.mkdtemp(prefix="postdesk-dovecot-"))
    server = Dovecot(root, free_port(), require_dovecot())
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def imap_user(dovecot: Dovecot) -> str:
    """A new, empty account for this test only."""
    return f"user{next(_users)}"


@dataclass
class Store:
    db: Database
    blobs: FileBlobStore

    def inbox_count(self, **where: Any) -> int:
        with self.db.sessions() as session:
            query = select(func.count()).select_from(InboxItem).filter_by(**where)
            return int(session.scalar(query) or 0)

    def inbox_rows(self) -> list[InboxItem]:
        with self.db.sessions() as session:
            return list(session.scalars(select(InboxItem).order_by(InboxItem.id)))


@pytest.fixture
def imap_store(tmp_path: Path) -> Iterator[Store]:
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    upgrade(db)
    try:
        yield Store(db, FileBlobStore(tmp_path / "blobs"))
    finally:
        db.dispose()


def mailbox(dovecot: Dovecot, user: str, **overrides: Any) -> MailboxConfig:
    values: dict[str, Any] = {
        "name": user, "host": dovecot.host, "port": dovecot.port, "security": "none",
        "username": user, "password": dovecot.password, "support_address": "help@example.test",
        "connect_timeout": 5, "read_timeout": 10, "backoff_min_seconds": 0.2,
        "backoff_max_seconds": 1.0,
    }
    values.update(overrides)
    return MailboxConfig.model_validate(values)


def client_for(dovecot: Dovecot, user: str) -> IMAPClient:
    client = IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=10)
    client.login(user, dovecot.password)
    return client


def message(n: int, *, tag: str = "m", body: str = "Hello, my printer is on fire.") -> bytes:
    return (f"From: Client {n} <client{n}@example.org>\r\n"
            f"To: help@example.test\r\n"
            f"Subject: Request {tag}{n}\r\n"
            f"Message-ID: <{tag}{n}@example.org>\r\n"
            f"Date: Mon, 05 Jan 2026 09:00:00 +0000\r\n"
            f"\r\n{body}\r\n").encode()


def append(dovecot: Dovecot, user: str, messages: list[bytes], folder: str = "INBOX") -> None:
    client = client_for(dovecot, user)
    try:
        if not client.folder_exists(folder):
            client.create_folder(folder)
        for start in range(0, len(messages), 100):
            client.multiappend(folder, messages[start:start + 100])
    finally:
        client.logout()


def server_flags(dovecot: Dovecot, user: str, folder: str = "INBOX") -> dict[int, set[bytes]]:
    """UID -> flags of every message in the folder (read-only, without side effects)."""
    client = client_for(dovecot, user)
    try:
        if not client.folder_exists(folder):
            return {}
        client.select_folder(folder, readonly=True)
        uids = client.search(["ALL"])
        if not uids:
            return {}
        return {uid: set(d[b"FLAGS"]) for uid, d in client.fetch(uids, ["FLAGS"]).items()}
    finally:
        client.logout()


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, step: float = 0.05) -> float:
    """Seconds until ``condition`` held; fails the test after ``timeout``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"condition not met within {timeout}s")
        time.sleep(step)
    return time.monotonic() - start
