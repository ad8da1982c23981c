"""``postdesk mailbox test|sync|status`` against Dovecot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from postdesk.gateway.cli_mailbox import mailbox
from postdesk.store.db import Database
from postdesk.store.migrate import upgrade
from tests.support.dovecot import Dovecot
from tests.support.imap import append, message, server_flags

pytestmark = pytest.mark.dovecot


@pytest.fixture
def cli_env(tmp_path: Path, dovecot: Dovecot, imap_user: str) -> dict[str, str]:
    data = tmp_path / "var"
    data.mkdir()
    db = Database(f"sqlite:///{data / 'postdesk.sqlite3'}")
    upgrade(db)
    db.dispose()
    boxes = tmp_path / "mailboxes.yaml"
    boxes.write_text(
        yaml.safe_dump(
            {
                "mailboxes": [
                    {
                        "name": "support",
                        "host": dovecot.host,
                        "port": dovecot.port,
                        "security": "none",
                        "username": imap_user,
                        "password": dovecot.password,
                        "batch_size": 7,
                    }
                ]
            }
        )
    )
    return {"POSTDESK_DATA_DIR": str(data), "POSTDESK_MAILBOXES_FILE": str(boxes)}


def test_test_sync_status(cli_env: dict[str, str], dovecot: Dovecot, imap_user: str) -> None:
    append(dovecot, imap_user, [message(i) for i in range(20)])
    runner = CliRunner()

    tested = runner.invoke(mailbox, ["test", "support"], env=cli_env)
    assert tested.exit_code == 0, tested.output
    assert "IDLE" in tested.output and "messages: 20" in tested.output
    assert "UIDVALIDITY: " in tested.output

    synced = runner.invoke(mailbox, ["sync", "support", "--once", "--no-process"], env=cli_env)
    assert synced.exit_code == 0, synced.output
    assert "new 20, duplicate 0, redelivery 0, quarantined 0" in synced.output
    assert all(b"$Postdesk" in f for f in server_flags(dovecot, imap_user).values())

    again = runner.invoke(mailbox, ["sync", "support", "--once", "--no-process"], env=cli_env)
    assert "new 0," in again.output

    shown = runner.invoke(mailbox, ["status", "--json"], env=cli_env)
    assert shown.exit_code == 0, shown.output
    [row] = json.loads(shown.output)
    assert (row["name"], row["last_uid"], row["backlog"], row["connected"]) == (
        "support",
        20,
        0,
        False,
    )
    assert row["last_sync_at"] is not None


def test_unknown_mailbox_and_refused_connection(cli_env: dict[str, str], tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(mailbox, ["test", "nope"], env=cli_env)
    assert missing.exit_code == 1 and "no mailbox named 'nope'" in missing.output

    from tests.support.dovecot import free_port

    boxes = tmp_path / "down.yaml"
    boxes.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "down",
                    "host": "127.0.0.1",
                    "port": free_port(),
                    "security": "none",
                    "username": "u",
                    "password": "p",
                }
            ]
        )
    )
    env = {**cli_env, "POSTDESK_MAILBOXES_FILE": str(boxes)}
    refused = runner.invoke(mailbox, ["test", "down"], env=env)
    assert refused.exit_code == 1 and "ConnectionRefused" in refused.output
    failed = runner.invoke(mailbox, ["sync", "down", "--once"], env=env)
    assert failed.exit_code == 1
    status = runner.invoke(mailbox, ["status"], env=env)
    assert "down: disconnected" in status.output and "ConnectionRefused" in status.output
