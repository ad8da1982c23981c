"""``postdesk mailbox``: check, drain and inspect the IMAP mailboxes.

Registered on the main group with ``cli.add_command(mailbox)``. Settings come from the
main group's context object when it holds one, otherwise from the environment (and
``--config``); the mailbox list from ``--mailboxes`` / ``POSTDESK_MAILBOXES_FILE``.
"""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path
from typing import Any

import click

from postdesk.gateway.receive import ReceiveResult
from postdesk.gateway.settings import Settings, load_settings
from postdesk.inbound.imap.config import MailboxConfig, find_mailbox, load_mailboxes
from postdesk.inbound.imap.connection import close_quietly, connect
from postdesk.inbound.imap.state import mailbox_statuses
from postdesk.inbound.imap.worker import MailboxWorker
from postdesk.store.blobs import FileBlobStore
from postdesk.store.db import Database


class _Ctx:
    def __init__(self, settings: Settings, mailboxes_file: Path | None) -> None:
        self.settings = settings
        self.mailboxes_file = mailboxes_file

    def mailboxes(self) -> list[MailboxConfig]:
        path = self.mailboxes_file or getattr(self.settings, "mailboxes_file", None)
        if path is None:
            raise click.UsageError(
                "no mailboxes file: pass --mailboxes or set POSTDESK_MAILBOXES_FILE"
            )
        try:
            return load_mailboxes(Path(path))
        except (OSError, ValueError) as exc:
            raise click.ClickException(f"cannot read mailboxes from {path}: {exc}") from exc

    def mailbox(self, name: str) -> MailboxConfig:
        try:
            return find_mailbox(self.mailboxes(), name)
        except KeyError:
            raise click.ClickException(f"no mailbox named {name!r}") from None

    def database(self) -> Database:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        return Database(self.settings.resolved_database_url)


@click.group("mailbox")
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="env-style settings file (when not given by the main command)",
)
@click.option(
    "--mailboxes",
    "mailboxes_file",
    envvar="POSTDESK_MAILBOXES_FILE",
    type=click.Path(path_type=Path, dir_okay=False),
    help="YAML list of mailboxes",
)
@click.pass_context
def mailbox(ctx: click.Context, config_file: Path | None, mailboxes_file: Path | None) -> None:
    """IMAP mailboxes: test a connection, drain a mailbox, show status."""
    parent = ctx.obj
    settings = getattr(parent, "settings", parent)
    if not isinstance(settings, Settings):
        settings = load_settings(config_file)
    ctx.obj = _Ctx(settings, mailboxes_file)


@mailbox.command("test")
@click.argument("name")
@click.pass_obj
def test_mailbox(obj: _Ctx, name: str) -> None:
    """Connect, log in and show what the server offers for the mailbox's folder."""
    cfg = obj.mailbox(name)
    click.echo(f"connecting to {cfg.host}:{cfg.effective_port} ({cfg.security}) as {cfg.username}")
    client = None
    try:
        client = connect(cfg)
        caps = sorted(c.decode() for c in client.capabilities())
        info = client.select_folder(cfg.folder, readonly=True)
        click.echo(f"capabilities: {' '.join(caps)}")
        click.echo(f"folder: {cfg.folder}")
        click.echo(f"UIDVALIDITY: {info.get(b'UIDVALIDITY')}  UIDNEXT: {info.get(b'UIDNEXT')}")
        click.echo(f"messages: {info.get(b'EXISTS')}")
        click.echo(
            f"IDLE: {'yes' if b'IDLE' in client.capabilities() and cfg.idle else 'no'}"
            f"  MOVE: {'yes' if client.has_capability('MOVE') else 'no'}"
        )
        if cfg.after_ingest == "move" and cfg.move_to:
            state = "exists" if client.folder_exists(cfg.move_to) else "missing (will be created)"
            click.echo(f"move_to: {cfg.move_to} {state}")
    except Exception as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc
    finally:
        close_quietly(client)
    click.echo("ok")


@mailbox.command("sync")
@click.argument("name")
@click.option("--once", is_flag=True, help="drain what is there and exit (else keep running)")
@click.option(
    "--process/--no-process",
    default=True,
    help="run the ingest pipeline on new messages after the drain",
)
@click.pass_obj
def sync_mailbox(obj: _Ctx, name: str, once: bool, process: bool) -> None:
    """Ingest new mail from one mailbox, with a progress bar."""
    cfg = obj.mailbox(name)
    db = obj.database()
    new_ids: list[int] = []

    def collect(_uid: int, result: ReceiveResult) -> None:
        if result.outcome == "new":
            new_ids.append(result.inbox_id)

    worker = MailboxWorker(cfg, db, FileBlobStore(obj.settings.blob_dir), on_received=collect)
    try:
        if once:
            _drain_once(worker)
        else:
            _run_until_interrupted(worker)
        c = worker.counts
        click.echo(
            f"new {c.new}, duplicate {c.duplicate}, redelivery {c.redelivery}, "
            f"quarantined {c.quarantined}"
        )
    finally:
        db.dispose()
    if process and new_ids:
        _process(obj.settings, new_ids)


def _drain_once(worker: MailboxWorker) -> None:
    with contextlib.ExitStack() as stack:
        bars: list[Any] = []

        def progress(done: int, pending: int) -> None:
            if not bars:
                bars.append(
                    stack.enter_context(
                        click.progressbar(length=pending, label=f"{worker.cfg.name}")
                    )
                )
            bars[0].update(done)

        client = None
        try:
            client = worker.open()
            worker.sync(client, progress=progress)
        except Exception as exc:
            worker.state.error(f"{type(exc).__name__}: {exc}")
            raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc
        finally:
            close_quietly(client)
            worker.state.connected(False)


def _run_until_interrupted(worker: MailboxWorker) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), name=f"imap-{worker.cfg.name}")
    thread.start()
    click.echo(f"watching {worker.cfg.name}; Ctrl-C to stop")
    try:
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        thread.join(10)


def _process(settings: Settings, inbox_ids: list[int]) -> None:
    """Hand the new rows to the pipeline (imported here: it is the heavy part of the app)."""
    from postdesk.gateway.app import App

    app = App(settings)
    try:
        states = [app.pipeline.process(i).state for i in inbox_ids]
    finally:
        app.close()
    click.echo(f"processed {states.count('processed')}, failed {states.count('failed')}")


@mailbox.command("status")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_obj
def status(obj: _Ctx, as_json: bool) -> None:
    """Connected, last sync, last error and backlog of every mailbox."""
    db = obj.database()
    try:
        with db.sessions() as session:
            rows = {row["name"]: row for row in mailbox_statuses(session)}
    finally:
        db.dispose()
    configured = (
        []
        if obj.mailboxes_file is None and not getattr(obj.settings, "mailboxes_file", None)
        else [m.name for m in obj.mailboxes()]
    )
    for name in configured:
        rows.setdefault(
            name,
            {
                "name": name,
                "connected": False,
                "last_sync_at": None,
                "last_error": None,
                "backlog": None,
                "last_uid": 0,
                "uidvalidity": None,
                "updated_at": None,
            },
        )
    if as_json:
        click.echo(json.dumps(sorted(rows.values(), key=lambda r: r["name"]), indent=2))
        return
    if not rows:
        click.echo("no mailboxes")
        return
    for row in sorted(rows.values(), key=lambda r: r["name"]):
        state = "connected" if row["connected"] else "disconnected"
        click.echo(
            f"{row['name']}: {state}, last sync {row['last_sync_at'] or 'never'}, "
            f"backlog {row['backlog'] if row['backlog'] is not None else '?'}, "
            f"last UID {row['last_uid']}"
            + (f", error: {row['last_error']}" if row["last_error"] else "")
        )
