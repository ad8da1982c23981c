"""``postdesk serve``: the SMTP listener, the ingest service and the outbox worker in one loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass, field
from typing import Any

from postdesk.gateway.accept_batches import BatchAcceptor
from postdesk.gateway.app import App
from postdesk.gateway.ingest_service import IngestService
from postdesk.gateway.parse_workers import ParseWorkers
from postdesk.gateway.pipeline import ProcessResult
from postdesk.gateway.receive import ReceiveResult
from postdesk.inbound.message import Envelope
from postdesk.inbound.smtp import GatewayHandler, start_server
from postdesk.outbound.worker import OutboxWorker

log = logging.getLogger(__name__)
IMAP_RECONCILE_SECONDS = 3.0  # an admin-added mailbox starts polling within this


@dataclass
class Gateway:
    """The running parts of one process; ``start`` binds, ``stop`` ends them cleanly."""

    app: App
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    outbox_wake: asyncio.Event = field(default_factory=asyncio.Event)
    smtp_port: int = 0
    ingest: IngestService | None = None
    acceptor: BatchAcceptor | None = None  # SMTP/LMTP messages, in batches
    parse_workers: ParseWorkers | None = None  # their parsing, in other processes
    imap: Any = None  # MailboxSupervisor, when mailboxes are configured
    web: Any = None  # admin.server.WebServer, when the admin is served
    time_rules: Any = None  # TimeRules, when the scheduler is on
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _server: asyncio.base_events.Server | None = None

    async def start(
        self,
        *,
        smtp: bool = True,
        outbox: bool = True,
        imap: bool = True,
        reuse_port: bool = False,
        web: bool = False,
        scheduler: bool = False,
    ) -> None:
        s = self.app.settings
        if scheduler:
            self._start_scheduler()
        self.ingest = IngestService(self.app.pipeline, on_processed=self._processed)
        self._tasks.append(asyncio.create_task(self.ingest.run(self.stop_event)))
        if outbox:
            worker = OutboxWorker(
                self.app.db,
                self.app.transport,
                clock=self.app.clock,
                max_attempts=s.outbox_max_attempts,
                backoff_seconds=s.outbox_backoff_seconds,
                lease_seconds=s.outbox_lease_seconds,
            )
            self._tasks.append(
                asyncio.create_task(worker.run_forever(self.stop_event, self.outbox_wake))
            )
        if imap:
            self._start_imap()
        if smtp:
            if s.parse_workers > 0:
                self.parse_workers = ParseWorkers(
                    s.blob_dir, self.app.pipeline.keys, s.parse_workers
                )
            self.acceptor = BatchAcceptor(
                self.app.accept_many,
                max_batch=s.smtp_batch_max,
                parse_early=self.parse_workers.submit if self.parse_workers else None,
            )
            self.acceptor.start()
            handler = GatewayHandler(
                self._receive,
                self.app.support,
                lmtp=s.smtp_lmtp,
                trusted_networks=s.smtp_trusted_networks,
            )
            self._server = await start_server(
                handler,
                s.smtp_host,
                s.smtp_port,
                data_size_limit=s.smtp_max_message_bytes,
                reuse_port=reuse_port,
            )
            self.smtp_port = self._server.sockets[0].getsockname()[1]
            log.info("SMTP listening on %s:%s", s.smtp_host, self.smtp_port)
        if web:
            from postdesk.admin.server import start_web

            loop = asyncio.get_running_loop()
            wake = self.outbox_wake  # replies are written from worker threads

            def wake_outbox() -> None:
                loop.call_soon_threadsafe(wake.set)

            self.web = await start_web(
                self.app, s.web_host, s.web_port, wake_outbox=wake_outbox, reuse_port=reuse_port
            )

    def _start_scheduler(self) -> None:
        """The time-based rules, in whichever process holds the leader lock."""
        from postdesk.rules.scheduler import LeaderLock, TimeRules, lead
        from postdesk.rules.timed import run_time_rules

        app = self.app

        def job(_now: object) -> None:
            run_time_rules(app.db, app.settings, app.clock())
            self.outbox_wake.set()

        self.time_rules = TimeRules(job, app.settings.rules_tick_seconds)
        self._tasks.append(
            asyncio.create_task(lead(LeaderLock(app.db), self.time_rules, self.stop_event))
        )

    def _start_imap(self) -> None:
        """One thread per mailbox (settings file and admin); committed rows go to ingest.

        Mailboxes added or removed in the admin are picked up by ``_reconcile_imap``."""
        from postdesk.inbound.imap.stored import file_mailboxes
        from postdesk.inbound.imap.supervisor import MailboxSupervisor

        assert self.ingest is not None
        loop = asyncio.get_running_loop()
        ingest = self.ingest

        def on_received(_uid: int, result: ReceiveResult) -> None:
            if result.outcome == "new":
                loop.call_soon_threadsafe(ingest.submit, result.inbox_id)

        # A bad mailboxes file still stops the start, as before; the admin's rows never do.
        self.imap = MailboxSupervisor(
            file_mailboxes(self.app.settings.mailboxes_file),
            self.app.db,
            self.app.blobs,
            on_received=on_received,
        )
        self.imap.start()
        self._tasks.append(asyncio.create_task(self._reconcile_imap()))

    async def _reconcile_imap(self) -> None:
        from postdesk.inbound.imap.stored import effective, file_mailboxes, stored_mailboxes

        file_boxes = file_mailboxes(self.app.settings.mailboxes_file)
        while not self.stop_event.is_set():
            try:
                db_boxes = await asyncio.to_thread(stored_mailboxes, self.app.db)
                await asyncio.to_thread(self.imap.reconcile, effective(file_boxes, db_boxes))
            except Exception:
                log.exception("could not reconcile the IMAP mailboxes; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), IMAP_RECONCILE_SECONDS)

    async def _receive(self, raw: bytes, envelope: Envelope) -> None:
        assert self.acceptor is not None
        accepted = await self.acceptor.accept(raw, envelope)
        if accepted.processed is not None:
            self._processed(accepted.processed)

    def _processed(self, result: ProcessResult) -> None:
        if result.state == "processed":
            self.outbox_wake.set()

    async def stop(self) -> None:
        self.stop_event.set()
        if self.web is not None:
            await self.web.stop()
        if self.imap is not None:
            await asyncio.to_thread(self.imap.stop, 5.0)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self.acceptor is not None:
            await asyncio.to_thread(self.acceptor.stop)  # what was handed over is still stored
        if self.parse_workers is not None:
            await asyncio.to_thread(self.parse_workers.close)
        for task in self._tasks:
            try:
                await asyncio.wait_for(task, timeout=10)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()


async def serve(app: App) -> None:
    gateway = Gateway(app)
    await gateway.start(
        reuse_port=app.settings.smtp_reuse_port, web=app.settings.web_enabled, scheduler=True
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, gateway.stop_event.set)
    await gateway.stop_event.wait()
    await gateway.stop()
