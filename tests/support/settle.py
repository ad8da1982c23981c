"""Waiting for a gateway (or several) to finish: every inbox row processed, no mail pending."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import func, select

from postdesk.store.db import Database
from postdesk.store.enums import InboxState, OutboxState
from postdesk.store.models import InboxItem, OutboxItem


async def drained(db: Database, timeout: float) -> None:
    """Wait until every inbox row is processed and the outbox has nothing pending (rows a
    killed process had claimed included: another takes them over when their lease ends)."""
    deadline = time.monotonic() + timeout
    while True:
        with db.sessions() as s:
            open_rows = s.scalar(
                select(func.count())
                .select_from(InboxItem)
                .where(InboxItem.state.in_([InboxState.RECEIVED, InboxState.FAILED]))
            )
            pending = s.scalar(
                select(func.count())
                .select_from(OutboxItem)
                .where(OutboxItem.state == OutboxState.PENDING)
            )
        if not open_rows and not pending:
            return
        assert time.monotonic() < deadline, f"not drained: {open_rows} inbox, {pending} outbox"
        await asyncio.sleep(0.25)
