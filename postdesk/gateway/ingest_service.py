"""Feeds committed inbox rows to the pipeline, one at a time, off the event loop.

New rows arrive by ``submit`` right after their commit; a periodic sweep picks up rows that
a crash (or another process) left in ``received``. Double processing is harmless: the
pipeline re-checks the row's state inside its transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from postdesk.gateway.pipeline import Pipeline, ProcessResult
from postdesk.store.enums import InboxState
from postdesk.store.models import InboxItem

log = logging.getLogger(__name__)


class IngestService:
    def __init__(
        self,
        pipeline: Pipeline,
        *,
        sweep_seconds: float = 30.0,
        on_processed: Callable[[ProcessResult], None] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.sweep_seconds = sweep_seconds
        self.on_processed = on_processed
        self.queue: asyncio.Queue[int] = asyncio.Queue()

    def submit(self, inbox_id: int) -> None:
        self.queue.put_nowait(inbox_id)

    async def run(self, stop: asyncio.Event) -> None:
        await self._sweep(min_age=None)  # whatever a previous run left behind
        sweeper = asyncio.create_task(self._sweep_forever(stop))
        try:
            while not stop.is_set():
                try:
                    inbox_id = await asyncio.wait_for(self.queue.get(), timeout=0.5)
                except TimeoutError:
                    continue
                await self._process(inbox_id)
        finally:
            sweeper.cancel()

    async def drain(self) -> None:
        """Process everything queued now (tests and the CLI)."""
        while not self.queue.empty():
            await self._process(self.queue.get_nowait())

    async def _process(self, inbox_id: int) -> None:
        try:
            result = await asyncio.to_thread(self.pipeline.process, inbox_id)
        except Exception:
            log.exception("processing inbox %s crashed", inbox_id)
            return
        if self.on_processed is not None:
            self.on_processed(result)

    async def _sweep_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.sweep_seconds)
            except TimeoutError:
                await self._sweep(min_age=timedelta(seconds=self.sweep_seconds))

    async def _sweep(self, min_age: timedelta | None) -> None:
        try:
            ids = await asyncio.to_thread(self._stale_ids, min_age)
        except Exception:
            log.exception("inbox sweep failed")
            return
        for inbox_id in ids:
            await self._process(inbox_id)

    def _stale_ids(self, min_age: timedelta | None) -> list[int]:
        query = select(InboxItem.id).where(InboxItem.state == InboxState.RECEIVED)
        if min_age is not None:
            query = query.where(InboxItem.received_at < self.pipeline.clock() - min_age)
        with self.pipeline.db.sessions() as session:
            return list(session.scalars(query.order_by(InboxItem.id).limit(500)))
