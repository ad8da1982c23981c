"""Draining a mailbox: acted on only after commit, keep/move/delete, resync, quarantine."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import event, select

from postdesk.gateway.receive import ReceiveResult
from postdesk.inbound.imap.connection import connect
from postdesk.inbound.imap.quarantine import QUARANTINED
from postdesk.inbound.imap.state import MailboxStateStore
from postdesk.inbound.imap.worker import MailboxWorker
from postdesk.store.db import Database
from postdesk.store.models import InboxArrival
from tests.support.dovecot import Dovecot
from tests.support.imap import (
    Store,
    append,
    client_for,
    mailbox,
    message,
    server_flags,
)

pytestmark = pytest.mark.dovecot


def drain(worker: MailboxWorker):  # type: ignore[no-untyped-def]
    client = connect(worker.cfg)
    try:
        return worker.sync(client)
    finally:
        client.logout()


def test_keep_flag_ingests_each_message_once_and_flags_it(
    dovecot: Dovecot, imap_user: str, imap_store: Store
) -> None:
    append(dovecot, imap_user, [message(i) for i in range(200)])
    cfg = mailbox(dovecot, imap_user, batch_size=64)
    worker = MailboxWorker(cfg, imap_store.db, imap_store.blobs)

    counts = drain(worker)

    assert (counts.new, counts.duplicate, counts.redelivery) == (200, 0, 0)
    assert imap_store.inbox_count() == 200
    assert imap_store.inbox_count(source=f"imap:{imap_user}") == 200
    flags = server_flags(dovecot, imap_user)
    assert len(flags) == 200
    assert all({b"$Postdesk", b"\\Seen"} <= f for f in flags.values())
    assert MailboxStateStore(imap_store.db, imap_user).load()[1] == max(flags)
    assert drain(worker).total == 0  # nothing new: nothing fetched again


def test_move_mode_moves_to_the_target_folder(
    dovecot: Dovecot, imap_user: str, imap_store: Store
) -> None:
    append(dovecot, imap_user, [message(i) for i in range(5)])
    cfg = mailbox(dovecot, imap_user, after_ingest="move", move_to="Processed")
    worker = MailboxWorker(cfg, imap_store.db, imap_store.blobs)
    client = worker.open()  # creates the target folder
    try:
        assert worker.sync(client).new == 5
    finally:
        client.logout()
    assert server_flags(dovecot, imap_user) == {}
    assert len(server_flags(dovecot, imap_user, "Processed")) == 5


def test_delete_mode_expunges(dovecot: Dovecot, imap_user: str, imap_store: Store) -> None:
    append(dovecot, imap_user, [message(i) for i in range(5)])
    cfg = mailbox(dovecot, imap_user, after_ingest="delete")
    worker = MailboxWorker(cfg, imap_store.db, imap_store.blobs)
    assert drain(worker).new == 5
    assert server_flags(dovecot, imap_user) == {}
    assert imap_store.inbox_count() == 5


def fill_disk_after(db: Database, ok: int) -> Callable[[], None]:
    """The disk fills up after ``ok`` inbox rows: receive raises, nothing of that message is
    committed. Returns the function that frees the disk again."""
    left = [ok]

    def insert(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        if statement.startswith("INSERT INTO inbox "):
            if left[0] <= 0:
                raise OSError(28, "No space left on device")
            left[0] -= 1

    event.listen(db.engine, "before_cursor_execute", insert)
    return lambda: event.remove(db.engine, "before_cursor_execute", insert)


def test_a_failed_receive_leaves_the_message_untouched_for_the_next_run(
    dovecot: Dovecot, imap_user: str, imap_store: Store, tmp_path: Path
) -> None:
    append(dovecot, imap_user, [message(i) for i in range(6)])
    free = fill_disk_after(imap_store.db, 3)
    failing = MailboxWorker(mailbox(dovecot, imap_user), imap_store.db, imap_store.blobs)

    with pytest.raises(OSError, match="No space"):
        drain(failing)
    free()

    flags = server_flags(dovecot, imap_user)
    uids = sorted(flags)
    assert [b"$Postdesk" in flags[u] for u in uids] == [True] * 3 + [False] * 3
    assert not any(b"\\Seen" in flags[u] for u in uids[3:])  # BODY.PEEK left them unread
    assert MailboxStateStore(imap_store.db, imap_user).load()[1] == uids[2]
    assert imap_store.inbox_count() == 3

    counts = drain(MailboxWorker(mailbox(dovecot, imap_user), imap_store.db, imap_store.blobs))
    assert (counts.new, counts.redelivery) == (3, 0)
    assert imap_store.inbox_count() == 6
    assert all(b"$Postdesk" in f for f in server_flags(dovecot, imap_user).values())


def test_a_cursor_left_behind_flagged_messages_moves_past_them(
    dovecot: Dovecot, imap_user: str, imap_store: Store
) -> None:
    append(dovecot, imap_user, [message(i) for i in range(6)])
    cfg = mailbox(dovecot, imap_user)
    assert drain(MailboxWorker(cfg, imap_store.db, imap_store.blobs)).new == 6
    state = MailboxStateStore(imap_store.db, imap_user)
    validity, _ = state.load()
    assert validity is not None
    uids = sorted(server_flags(dovecot, imap_user))

    # As a poller killed after flagging a batch and before storing its cursor leaves it.
    state.advance(validity, uids[1])
    assert drain(MailboxWorker(cfg, imap_store.db, imap_store.blobs)).total == 0
    assert state.load()[1] == uids[-1]

    state.advance(validity, uids[1])
    append(dovecot, imap_user, [message(i) for i in range(6, 8)])
    counts = drain(MailboxWorker(cfg, imap_store.db, imap_store.blobs))
    assert (counts.new, counts.redelivery) == (2, 0)  # the flagged ones not fetched again
    assert state.load()[1] == max(server_flags(dovecot, imap_user)) == uids[-1] + 2
    assert imap_store.inbox_count() == 8


def test_uidvalidity_change_resyncs_without_duplicates(
    dovecot: Dovecot, imap_user: str, imap_store: Store
) -> None:
    folder = "Support"
    mails = [message(i) for i in range(5)]
    append(dovecot, imap_user, mails, folder)
    cfg = mailbox(dovecot, imap_user, folder=folder)
    assert drain(MailboxWorker(cfg, imap_store.db, imap_store.blobs)).new == 5
    state = MailboxStateStore(imap_store.db, imap_user)
    before = state.load()[0]

    client = client_for(dovecot, imap_user)
    client.delete_folder(folder)
    client.logout()
    append(dovecot, imap_user, [*mails, message(99)], folder)  # recreated: new UIDVALIDITY

    counts = drain(MailboxWorker(cfg, imap_store.db, imap_store.blobs))
    assert (counts.new, counts.redelivery) == (1, 5)
    assert imap_store.inbox_count() == 6
    assert state.load()[0] != before
    assert all(b"$Postdesk" in f for f in server_flags(dovecot, imap_user, folder).values())


def test_oversized_message_is_quarantined_once_and_does_not_block(
    dovecot: Dovecot, imap_user: str, imap_store: Store
) -> None:
    big = message(2, body="x" * 78 + "\r\n" + ("y" * 78 + "\r\n") * 30_000)  # about 2.4 MB
    append(dovecot, imap_user, [message(1), big, message(3)])
    cfg = mailbox(dovecot, imap_user, max_message_bytes=1_000_000)

    counts = drain(MailboxWorker(cfg, imap_store.db, imap_store.blobs))

    assert (counts.new, counts.quarantined) == (2, 1)
    rows = imap_store.inbox_rows()
    held = [r for r in rows if r.state == QUARANTINED]
    assert len(held) == 1
    assert held[0].message_id == "m2@example.org"
    assert "exceeds max_message_bytes=1000000" in (held[0].error or "")
    assert held[0].content_hash == hashlib.sha256(big).hexdigest()  # streamed whole, once
    assert imap_store.blobs.get(held[0].content_hash) == big
    assert all(b"$Postdesk" in f for f in server_flags(dovecot, imap_user).values())
    assert drain(MailboxWorker(cfg, imap_store.db, imap_store.blobs)).total == 0


def test_same_message_in_two_mailboxes_is_stored_once(dovecot: Dovecot, imap_store: Store) -> None:
    first, second = "twin-a", "twin-b"
    for user in (first, second):
        append(dovecot, user, [message(7, tag="twin")])

    a = drain(MailboxWorker(mailbox(dovecot, first), imap_store.db, imap_store.blobs))
    b = drain(MailboxWorker(mailbox(dovecot, second), imap_store.db, imap_store.blobs))

    assert (a.new, b.new, b.redelivery) == (1, 0, 1)
    assert imap_store.inbox_count() == 1
    with imap_store.db.sessions() as session:
        arrivals = list(session.scalars(select(InboxArrival.source)))
    assert arrivals == ["imap:twin-b"]


def test_on_received_runs_after_commit_and_before_the_flag(
    dovecot: Dovecot, imap_user: str, imap_store: Store
) -> None:
    append(dovecot, imap_user, [message(1)])
    seen: list[tuple[int, str, int, bool]] = []

    def check(uid: int, result: ReceiveResult) -> None:
        flagged = b"$Postdesk" in server_flags(dovecot, imap_user)[uid]
        seen.append((uid, result.outcome, imap_store.inbox_count(), flagged))

    cfg = mailbox(dovecot, imap_user)
    drain(MailboxWorker(cfg, imap_store.db, imap_store.blobs, on_received=check))
    assert seen == [(1, "new", 1, False)]  # committed (visible to another session), not flagged
