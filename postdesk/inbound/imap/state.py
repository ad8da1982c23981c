"""Reading and writing a mailbox's cursor and health (table ``mailbox_state``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from postdesk.clock import Clock, utcnow
from postdesk.store.db import Database
from postdesk.store.mailbox_models import MailboxState


class MailboxStateStore:
    """One mailbox's row; every method is its own short transaction."""

    def __init__(self, db: Database, name: str, clock: Clock = utcnow) -> None:
        self.db = db
        self.name = name
        self.clock = clock

    def load(self) -> tuple[int | None, int]:
        with self.db.sessions() as session:
            row = session.get(MailboxState, self.name)
            return (None, 0) if row is None else (row.uidvalidity, row.last_uid)

    def advance(self, uidvalidity: int, last_uid: int, backlog: int | None = None) -> None:
        """Called only after the messages up to ``last_uid`` are committed and acted on."""
        self._update(
            uidvalidity=uidvalidity,
            last_uid=last_uid,
            **({} if backlog is None else {"backlog": backlog}),
        )

    def synced(self, backlog: int) -> None:
        self._update(last_sync_at=self.clock(), backlog=backlog, last_error=None, connected=True)

    def connected(self, value: bool) -> None:
        self._update(connected=value)

    def backlog(self, value: int) -> None:
        self._update(backlog=value)

    def error(self, message: str) -> None:
        self._update(last_error=message[:2000], connected=False)

    def _update(self, **values: Any) -> None:
        for attempt in range(2):
            try:
                with self.db.transaction() as session:
                    row = _get_or_add(session, self.name)
                    for key, value in values.items():
                        setattr(row, key, value)
                    row.updated_at = self.clock()
                return
            except IntegrityError:
                if attempt == 1:  # two processes created the row at once: the retry updates it
                    raise


def _get_or_add(session: Session, name: str) -> MailboxState:
    row = session.get(MailboxState, name)
    if row is None:
        row = MailboxState(name=name, last_uid=0, connected=False, backlog=0)
        session.add(row)
    return row


def mailbox_statuses(session: Session) -> list[dict[str, Any]]:
    """Every known mailbox's health, for the admin page and ``/metrics``."""
    rows = session.scalars(select(MailboxState).order_by(MailboxState.name))
    return [_as_dict(row) for row in rows]


def _as_dict(row: MailboxState) -> dict[str, Any]:
    return {
        "name": row.name,
        "connected": bool(row.connected),
        "uidvalidity": row.uidvalidity,
        "last_uid": row.last_uid,
        "last_sync_at": _iso(row.last_sync_at),
        "last_error": row.last_error,
        "backlog": row.backlog,
        "updated_at": _iso(row.updated_at),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
