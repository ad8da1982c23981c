"""The pure parts of IMAP ingestion, its configuration, its table and its error path."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import inspect

from postdesk.inbound.imap.config import MailboxConfig, find_mailbox, load_mailboxes
from postdesk.inbound.imap.plan import (
    Fetch,
    Quarantine,
    backoff_delay,
    cursor_start,
    flagged_through,
    has_new_mail,
    is_bye,
    new_uids,
    plan_steps,
)
from postdesk.inbound.imap.state import MailboxStateStore, mailbox_statuses
from postdesk.inbound.imap.supervisor import MailboxSupervisor, advisory_key
from postdesk.store.db import Database
from postdesk.store.migrate import current, upgrade
from tests.support.dovecot import free_port
from tests.support.imap import Store, wait_for


def test_uid_range_answer_below_the_cursor_is_ignored() -> None:
    assert new_uids([7], last_uid=7) == []  # "UID 8:*" answered the highest UID, 7
    assert new_uids([9, 8, 8, 3], last_uid=7) == [8, 9]


def test_the_cursor_passes_flagged_messages_but_never_an_unflagged_one() -> None:
    assert flagged_through([3, 4, 5], [], last_uid=2) == 5
    assert flagged_through([3, 4, 6], [5, 7], last_uid=2) == 4
    assert flagged_through([4], [3], last_uid=2) == 2
    assert flagged_through([], [3], last_uid=2) == 2
    assert flagged_through([2], [], last_uid=2) == 2  # "UID 3:*" answered the highest, 2


def test_cursor_restarts_when_uidvalidity_changes() -> None:
    assert cursor_start(None, 0, 42) == cursor_start(None, 0, 42)
    assert cursor_start(None, 0, 42).resync is False
    assert cursor_start(42, 17, 42).last_uid == 17
    changed = cursor_start(41, 17, 42)
    assert (changed.last_uid, changed.resync) == (0, True)


def test_plan_groups_by_budget_and_quarantines_in_uid_order() -> None:
    sizes = {1: 400, 2: 400, 3: 400, 4: 5000, 5: 100}
    steps = plan_steps([5, 4, 3, 2, 1, 6], sizes, max_message_bytes=1000, budget_bytes=900)
    assert steps == [Fetch((1, 2)), Fetch((3,)), Quarantine(4, 5000), Fetch((5,))]
    # One message larger than the budget (but under the limit) is still fetched, alone.
    assert plan_steps([1, 2], {1: 950, 2: 10}, max_message_bytes=1000, budget_bytes=900) == [
        Fetch((1,)),
        Fetch((2,)),
    ]


def test_backoff_grows_and_is_capped() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(n, 1.0, 60.0, rng) for n in range(1, 10)]
    assert 0.8 <= delays[0] <= 1.2
    assert 6.4 <= delays[3] <= 9.6
    assert max(delays) <= 60.0
    assert delays[-1] >= 48.0


def test_idle_responses() -> None:
    assert is_bye([(b"BYE", b"Server", b"shutting", b"down.")])
    assert not is_bye([(b"OK", b"Still here")])
    assert has_new_mail([(3, b"EXISTS")])
    assert not has_new_mail([(b"OK", b"Still here"), (2, b"EXPUNGE")])


def _base(**kw: object) -> dict[str, object]:
    return {"name": "support", "host": "imap.example.org", "username": "u", "password": "p", **kw}


def test_config_defaults_and_validation() -> None:
    cfg = MailboxConfig.model_validate(_base())
    assert (cfg.effective_port, cfg.folder, cfg.after_ingest, cfg.source) == (
        993,
        "INBOX",
        "keep_flag",
        "imap:support",
    )
    secret = MailboxConfig.model_validate(_base(password="hunter2-secret"))
    assert "hunter2" not in repr(secret) and "hunter2" not in str(secret.model_dump())
    assert MailboxConfig.model_validate(_base(security="starttls")).effective_port == 143
    with pytest.raises(ValidationError, match="needs move_to"):
        MailboxConfig.model_validate(_base(after_ingest="move"))
    with pytest.raises(ValidationError, match="exactly one of"):
        MailboxConfig.model_validate(_base(oauth2_token_command=["get-token"]))
    with pytest.raises(ValidationError):
        MailboxConfig.model_validate(_base(name="has space"))


def test_load_mailboxes_from_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "mailboxes.yaml"
    path.write_text(
        "mailboxes:\n"
        "  - {name: sales, host: h, username: u, password_env: SALES_PW, idle: false}\n"
        "  - name: m365\n    host: outlook.office365.com\n    username: s@x.org\n"
        "    oauth2_token_command: [token-helper, m365]\n    after_ingest: move\n"
        "    move_to: Archive/postdesk\n    support_address: Support@X.org\n"
    )
    boxes = load_mailboxes(path)
    assert [b.name for b in boxes] == ["sales", "m365"]
    monkeypatch.setenv("SALES_PW", "pw1")
    assert boxes[0].resolved_password() == "pw1"
    m365 = find_mailbox(boxes, "m365")
    assert (m365.support_address, m365.resolved_password()) == ("support@x.org", None)
    path.write_text("- {name: a, host: h, username: u, password: p}\n" * 2)
    with pytest.raises(ValueError, match="duplicate mailbox names: a"):
        load_mailboxes(path)


def test_advisory_key_is_stable_and_distinct() -> None:
    assert advisory_key("support") == advisory_key("support")
    assert advisory_key("support") != advisory_key("sales")
    assert -(2**63) <= advisory_key("support") < 2**63


def test_migration_0002_creates_and_drops_mailbox_state(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    try:
        upgrade(db, "0002")  # later revisions have their own tests
        assert current(db) == "0002"
        assert "mailbox_state" in inspect(db.engine).get_table_names()
        from alembic import command

        from postdesk.store.migrate import alembic_config

        cfg = alembic_config()
        with db.engine.connect() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0001")
            conn.commit()
        assert "mailbox_state" not in inspect(db.engine).get_table_names()
    finally:
        db.dispose()


def test_state_store_round_trip(imap_store: Store) -> None:
    state = MailboxStateStore(imap_store.db, "support")
    assert state.load() == (None, 0)
    state.advance(77, 12, backlog=3)
    state.error("OSError: boom")
    assert state.load() == (77, 12)
    with imap_store.db.sessions() as session:
        [row] = mailbox_statuses(session)
    assert (row["name"], row["backlog"], row["connected"], row["last_error"]) == (
        "support",
        3,
        False,
        "OSError: boom",
    )


def test_unreachable_server_backs_off_and_records_the_error(imap_store: Store) -> None:
    cfg = MailboxConfig.model_validate(
        _base(
            name="down",
            host="127.0.0.1",
            port=free_port(),
            security="none",
            connect_timeout=1,
            backoff_min_seconds=0.1,
            backoff_max_seconds=0.5,
        )
    )
    supervisor = MailboxSupervisor([cfg], imap_store.db, imap_store.blobs)
    supervisor.start()
    try:
        wait_for(lambda: _errors(imap_store) is not None, timeout=5)
    finally:
        assert supervisor.stop(timeout=3)
    assert "ConnectionRefused" in (_errors(imap_store) or "")


def _errors(imap_store: Store) -> str | None:
    with imap_store.db.sessions() as session:
        rows = mailbox_statuses(session)
    return rows[0]["last_error"] if rows else None
