"""When processing fails: 451 to the sender, a failed inbox row with its error, and a retry."""

from __future__ import annotations

import asyncio
import os
import smtplib
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from postdesk.gateway.app import App
from postdesk.gateway.serve import Gateway
from postdesk.gateway.settings import Settings
from postdesk.rules.engine import RuleContext
from postdesk.store.enums import InboxState
from postdesk.store.models import InboxItem, Message, Ticket
from tests.support import with_settings
from tests.support.mail import client_mail, smtp_send

CLIENT = "Ana Client <ana@client.example>"


class BrokenRule:
    """A rule whose action fails, like a template with an error would."""

    name = "broken"
    description = "always fails"
    events = ("ticket.created",)

    def check(self, ctx: RuleContext) -> str | None:
        return "always"

    def apply(self, ctx: RuleContext) -> None:
        raise RuntimeError("template 'ack' is broken")


def cli(settings: Settings, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = os.environ | {
        "POSTDESK_DATA_DIR": str(settings.data_dir),
        "POSTDESK_DATABASE_URL": settings.resolved_database_url,
        "POSTDESK_SUPPORT_ADDRESSES": ",".join(settings.support_addresses),
        "POSTDESK_SECRET_KEY": settings.key_bytes().decode(),
    }
    return subprocess.run(
        [sys.executable, "-m", "postdesk", *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )


def count(app: App, model: type, *where) -> int:  # type: ignore[no-untyped-def]
    with app.db.sessions() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


async def test_processing_failure_answers_451_then_retry_from_cli(app: App) -> None:
    app.pipeline.rules = [BrokenRule()]
    gateway = Gateway(app)
    await gateway.start(outbox=False)
    raw = client_mail(CLIENT, "support@example.com", "Broken day", "Please help")
    try:
        with pytest.raises(smtplib.SMTPDataError) as err:
            await asyncio.to_thread(
                smtp_send, gateway.smtp_port, raw, "ana@client.example", ["support@example.com"]
            )
    finally:
        await gateway.stop()
    assert err.value.smtp_code == 451
    with app.db.sessions() as s:
        row = s.scalars(select(InboxItem)).one()
    assert row.state == InboxState.FAILED
    assert "template 'ack' is broken" in (row.error or "")
    assert count(app, Ticket) == 0  # the failed transaction left nothing half-written

    listing = cli(app.settings, "inbox", "list", "--state", "failed")
    assert listing.returncode == 0 and "template 'ack' is broken" in listing.stdout.decode()

    fixed = cli(app.settings, "inbox", "retry", str(row.id))
    assert fixed.returncode == 0, fixed.stderr.decode()
    assert "new" in fixed.stdout.decode()
    with app.db.sessions() as s:
        assert s.get(InboxItem, row.id).state == InboxState.PROCESSED  # type: ignore[union-attr]
    assert count(app, Ticket) == 1


async def test_smtp_redelivery_retries_a_failed_row(app: App) -> None:
    app.pipeline.rules = [BrokenRule()]
    gateway = Gateway(app)
    await gateway.start(outbox=False)
    raw = client_mail(CLIENT, "support@example.com", "Second try", "Works later")
    try:
        with pytest.raises(smtplib.SMTPDataError):
            await asyncio.to_thread(
                smtp_send, gateway.smtp_port, raw, "ana@client.example", ["support@example.com"]
            )
        app.pipeline.rules = list(app.rules)  # the operator fixed the template
        await asyncio.to_thread(
            smtp_send, gateway.smtp_port, raw, "ana@client.example", ["support@example.com"]
        )
    finally:
        await gateway.stop()
    assert count(app, InboxItem) == 1
    assert count(app, Ticket) == 1
    assert count(app, Message, Message.direction == "in") == 1


async def test_persistent_failure_is_accepted_after_the_deferrals(app: App) -> None:
    """An MTA must not bounce mail we hold: after N deferrals we accept it and keep it failed."""
    app.pipeline.rules = [BrokenRule()]
    gateway = Gateway(app)
    await gateway.start(outbox=False)
    raw = client_mail(CLIENT, "support@example.com", "Always broken", "...")
    codes = []
    try:
        for _ in range(app.settings.smtp_defer_failed_attempts + 1):
            try:
                await asyncio.to_thread(
                    smtp_send, gateway.smtp_port, raw, "ana@client.example", ["support@example.com"]
                )
                codes.append(250)
            except smtplib.SMTPDataError as exc:
                codes.append(exc.smtp_code)
    finally:
        await gateway.stop()
    assert codes == [451] * (app.settings.smtp_defer_failed_attempts - 1) + [250, 250]
    with app.db.sessions() as s:
        assert s.scalars(select(InboxItem)).one().state == InboxState.FAILED


def test_ingest_pipe_stores_once_and_exit_codes(app: App, tmp_path: Path) -> None:
    raw = client_mail(CLIENT, "support@example.com", "Via the MTA pipe", "From procmail")
    first = cli(
        app.settings, "ingest", "-f", "ana@client.example", "-r", "support@example.com", stdin=raw
    )
    assert first.returncode == 0, first.stderr.decode()
    assert "new" in first.stdout.decode()
    again = cli(app.settings, "ingest", "-f", "ana@client.example", stdin=raw)
    assert again.returncode == 0 and "redelivery" in again.stdout.decode()
    assert count(app, InboxItem) == 1
    assert count(app, Ticket) == 1

    empty = cli(app.settings, "ingest", stdin=b"")
    assert empty.returncode == 65

    shown = cli(app.settings, "tickets", "show", "1")
    assert shown.returncode == 0 and "Via the MTA pipe" in shown.stdout.decode()


def test_ingest_exits_75_when_the_database_is_unusable(app: App, tmp_path: Path) -> None:
    broken = with_settings(app.settings, database_url=f"sqlite:///{tmp_path}/nope/x.db")
    result = cli(broken, "ingest", stdin=client_mail(CLIENT, "support@example.com", "x", "y"))
    assert result.returncode == 75
    assert b"could not store" in result.stderr
