"""Lookups remembered for the rest of one transaction, so a message's processing asks once.

A cache lives in ``session.info`` and is dropped whenever the session commits or rolls back
(also to a savepoint): a row created inside an undone savepoint must not be handed out.
Only the functions that write the rows they cache use it (``contact_for``,
``add_participants``), so within a transaction the cache is as current as a SELECT.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

_KEY = "postdesk_cache"


def cache(session: Session, name: str) -> dict[Any, Any]:
    """The named cache of this session's current transaction."""
    caches: dict[str, dict[Any, Any]] = session.info.setdefault(_KEY, {})
    return caches.setdefault(name, {})


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous: Any) -> None:
    session.info.pop(_KEY, None)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    session.info.pop(_KEY, None)
