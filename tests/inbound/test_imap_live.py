"""The running worker: IDLE, reconnects after a kick, a SIGKILL between commit and flag, stop."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from postdesk.gateway.receive import ReceiveResult
from postdesk.inbound.imap.connection import connect
from postdesk.inbound.imap.state import MailboxStateStore
from postdesk.inbound.imap.supervisor import MailboxSupervisor
from postdesk.inbound.imap.worker import MailboxWorker
from tests.support.dovecot import Dovecot
from tests.support.imap import (
    Store,
    append,
    mailbox,
    message,
    server_flags,
    wait_for,
)

pytestmark = pytest.mark.dovecot
REPO = Path(__file__).resolve().parents[2]


def test_idle_picks_up_new_mail_and_survives_a_kick(
    dovecot: Dovecot, imap_user: str, imap_store: Store
) -> None:
    supervisor = MailboxSupervisor([mailbox(dovecot, imap_user)], imap_store.db, imap_store.blobs)
    worker = supervisor.workers[0]
    supervisor.start()
    try:
        wait_for(lambda: worker.connects == 1 and _synced(imap_store, imap_user))
        time.sleep(0.3)  # in IDLE by now
        append(dovecot, imap_user, [message(1)])
        latency = wait_for(lambda: imap_store.inbox_count() == 1, timeout=5)
        assert latency < 5

        dovecot.kick(imap_user)  # BYE during IDLE -> reconnect
        wait_for(lambda: worker.connects == 2, timeout=5)
        append(dovecot, imap_user, [message(2)])
        wait_for(lambda: imap_store.inbox_count() == 2, timeout=5)
    finally:
        started = time.monotonic()
        assert supervisor.stop(timeout=5)
        stopped_in = time.monotonic() - started
    assert stopped_in < 2
    assert all(b"$Postdesk" in f for f in server_flags(dovecot, imap_user).values())
    assert MailboxStateStore(imap_store.db, imap_user).load()[1] == 2


def test_mail_arriving_between_sync_and_idle_is_not_left_waiting(
    dovecot: Dovecot, imap_user: str, imap_store: Store
) -> None:
    cfg = mailbox(dovecot, imap_user, idle_renew_seconds=8)
    worker = MailboxWorker(cfg, imap_store.db, imap_store.blobs)
    client = connect(cfg)
    try:
        worker.sync(client)
        append(dovecot, imap_user, [message(1)])  # after the SEARCH, before IDLE
        started = time.monotonic()
        worker.wait_for_mail(client, threading.Event())
        assert time.monotonic() - started < 2
        assert worker.sync(client).new == 1
    finally:
        client.logout()


def test_kick_mid_sync_reconnects_without_loss_or_duplicate(
    dovecot: Dovecot, imap_user: str, imap_store: Store
) -> None:
    append(dovecot, imap_user, [message(i) for i in range(200)])
    kicked = threading.Event()

    def kick_once(uid: int, _result: ReceiveResult) -> None:
        if uid == 57 and not kicked.is_set():
            kicked.set()
            dovecot.kick(imap_user)

    cfg = mailbox(dovecot, imap_user, batch_size=20)
    supervisor = MailboxSupervisor([cfg], imap_store.db, imap_store.blobs, on_received=kick_once)
    supervisor.start()
    try:
        wait_for(
            lambda: imap_store.inbox_count() == 200 and _all_flagged(dovecot, imap_user, 200),
            timeout=20,
            step=0.2,
        )
    finally:
        assert supervisor.stop()
    worker = supervisor.workers[0]
    assert kicked.is_set() and worker.connects >= 2
    assert imap_store.inbox_count(state="received") == 200  # none stored twice
    assert worker.counts.new == 200
    assert worker.counts.duplicate == 0


_CRASH = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from postdesk.inbound.imap.connection import connect
    from postdesk.inbound.imap.config import MailboxConfig
    from postdesk.inbound.imap.worker import MailboxWorker
    from postdesk.store.blobs import FileBlobStore
    from postdesk.store.db import Database

    cfg = MailboxConfig.model_validate_json(sys.argv[1])
    def die(uid, result):
        if uid == 4:
            os.kill(os.getpid(), signal.SIGKILL)  # committed, not yet flagged
    blobs = FileBlobStore(Path(sys.argv[3]))
    MailboxWorker(cfg, Database(sys.argv[2]), blobs, on_received=die).sync(connect(cfg))
""")


def test_sigkill_between_commit_and_flag_ingests_nothing_twice(
    dovecot: Dovecot, imap_user: str, imap_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    append(dovecot, imap_user, [message(i) for i in range(8)])
    cfg = mailbox(dovecot, imap_user, batch_size=3, password=None, password_env="IMAP_TEST_PW")
    monkeypatch.setenv("IMAP_TEST_PW", dovecot.password)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _CRASH,
            cfg.model_dump_json(),
            imap_store.db.url,
            str(imap_store.blobs.root),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == -9, done.stderr

    flags = server_flags(dovecot, imap_user)
    assert [b"$Postdesk" in flags[u] for u in sorted(flags)] == [True] * 3 + [False] * 5
    assert imap_store.inbox_count() == 4  # UID 4 committed before the kill

    client = connect(cfg)
    try:
        counts = MailboxWorker(cfg, imap_store.db, imap_store.blobs).sync(client)
    finally:
        client.logout()
    assert (counts.redelivery, counts.new, counts.duplicate) == (1, 4, 0)
    assert imap_store.inbox_count() == 8
    assert _all_flagged(dovecot, imap_user, 8)


def _synced(imap_store: Store, name: str) -> bool:
    return _status(imap_store, name).get("last_sync_at") is not None


def _status(imap_store: Store, name: str) -> dict:  # type: ignore[type-arg]
    from postdesk.inbound.imap.state import mailbox_statuses

    with imap_store.db.sessions() as session:
        return next((s for s in mailbox_statuses(session) if s["name"] == name), {})


def _all_flagged(dovecot: Dovecot, user: str, count: int) -> bool:
    flags = server_flags(dovecot, user)
    return len(flags) == count and all(b"$Postdesk" in f for f in flags.values())
