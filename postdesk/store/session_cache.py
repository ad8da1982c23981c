"""Lookups remembered for the rest of one transaction, so a message's processing asks once.

A cache lives in ``session.info`` and is dropped whenever the session commits or rolls back
(also to a savepoint): a row created inside an undone savepoint must not be handed out.

- ``cache``: a named dict, kept current by the functions that write the rows it holds
  (``contact_for``, ``add_participants``), so within a transaction it is as current as a
  SELECT;
- ``remembered``: one read of rows the ingest path never writes (the knowledge base's and the
  estimates' change stamps, the managers), asked once per transaction instead of once per
  message of a batch. A flush that writes one of the models it was read from forgets it,
  so a transaction that changes them reads them again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session, UOWTransaction

T = TypeVar("T")
_KEY = "postdesk_cache"
_READS = "postdesk_reads"  # name -> (models, value)


def cache(session: Session, name: str) -> dict[Any, Any]:
    """The named cache of this session's current transaction."""
    caches: dict[str, dict[Any, Any]] = session.info.setdefault(_KEY, {})
    return caches.setdefault(name, {})


def remembered(session: Session, name: str, models: tuple[type, ...], read: Callable[[], T]) -> T:
    """``read()`` once in this transaction (again after a flush wrote one of ``models``)."""
    reads: dict[str, tuple[tuple[type, ...], Any]] = session.info.setdefault(_READS, {})
    held = reads.get(name)
    if held is None:
        held = reads[name] = (models, read())
    return held[1]  # type: ignore[no-any-return]


def is_remembered(session: Session, name: str) -> bool:
    """Whether ``remembered(session, name, ...)`` would answer without reading."""
    return name in session.info.get(_READS, ())


def forget(session: Session) -> None:
    session.info.pop(_KEY, None)
    session.info.pop(_READS, None)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous: Any) -> None:
    forget(session)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    forget(session)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: UOWTransaction) -> None:
    reads: dict[str, tuple[tuple[type, ...], Any]] | None = session.info.get(_READS)
    if not reads:
        return
    written = (*session.new, *session.dirty, *session.deleted)
    for name, (models, _value) in list(reads.items()):
        if any(isinstance(obj, models) for obj in written):
            del reads[name]
