"""``postdesk ingest`` as an MTA pipe: a message over the size limit is refused permanently
(exit 65, so the MTA bounces it with our stderr text) and nothing of it is stored."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import func, select

from postdesk.gateway.app import App
from postdesk.gateway.settings import Settings
from postdesk.store.models import InboxItem
from tests.support.mail import client_mail

LIMIT = 20_000


def ingest(settings: Settings, raw: bytes) -> subprocess.CompletedProcess:
    env = os.environ | {
        "POSTDESK_DATA_DIR": str(settings.data_dir),
        "POSTDESK_DATABASE_URL": settings.resolved_database_url,
        "POSTDESK_SUPPORT_ADDRESSES": ",".join(settings.support_addresses),
        "POSTDESK_SECRET_KEY": settings.key_bytes().decode(),
        "POSTDESK_SMTP_MAX_MESSAGE_BYTES": str(LIMIT),
    }
    return subprocess.run(
        [sys.executable, "-m", "postdesk", "ingest", "-f", "ana@client.example"],
        input=raw,
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )


def inbox_count(app: App) -> int:
    with app.db.sessions() as s:
        return s.scalar(select(func.count()).select_from(InboxItem)) or 0


def test_ingest_refuses_a_message_over_the_limit(settings: Settings, app: App) -> None:
    big = client_mail("Ana <ana@client.example>", "support@example.com", "Big", "x" * 3 * LIMIT)
    result = ingest(settings, big)
    assert result.returncode == 65, result.stderr
    stderr = result.stderr.decode()
    assert "message too big" in stderr and str(LIMIT) in stderr and str(len(big)) in stderr
    assert inbox_count(app) == 0


def test_ingest_takes_a_message_at_the_limit(settings: Settings, app: App) -> None:
    small = client_mail("Ana <ana@client.example>", "support@example.com", "Small", "hello")
    padded = small + b"x" * (LIMIT - len(small))  # exactly the limit: still accepted
    assert len(padded) == LIMIT
    result = ingest(settings, padded)
    assert result.returncode == 0, result.stderr
    assert b"inbox #1: new" in result.stdout
    assert inbox_count(app) == 1
    assert ingest(settings, padded + b"y").returncode == 65
    assert inbox_count(app) == 1
