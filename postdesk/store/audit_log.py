"""The audit trail's writes, batched: one executemany where the ORM made one INSERT each.

Processing one new ticket writes six or more entries, spread over as many flushes; as ORM
objects each costs an INSERT ... RETURNING and its share of unit-of-work bookkeeping
(together about an eighth of the CPU time of a new ticket, ``benchmarks/profile_ingest.py``).
Nothing reads an entry's id, so ``audit`` keeps rows in the session and writes them with
one Core statement:

- before any ORM query while autoflush is on (as the ORM flushes pending objects), so a
  query in the same transaction sees them;
- before the transaction (or a savepoint) commits, after the ORM's own pending rows (the
  tickets they name).

Open savepoints with ``savepoint``: it writes the rows buffered so far into the enclosing
transaction first, as ``begin_nested`` flushes ORM objects. A savepoint opened directly
still loses nothing: the rows buffered before it are held aside, written first when it is
released or given back when it rolls back, and its own rows are dropped with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from postdesk.clock import utcnow
from postdesk.store.direct import insert_rows
from postdesk.store.models import AuditEntry

_PENDING = "postdesk.audit.pending"
_HELD = "postdesk.audit.held"  # transaction -> rows buffered before that savepoint began


def audit(
    session: Session,
    ticket_id: int,
    actor: str,
    action: str,
    *,
    field: str | None = None,
    old: str | None = None,
    new: str | None = None,
    detail: str | None = None,
    at: datetime | None = None,
) -> None:
    """Add an entry to the ticket's audit trail, written with the transaction."""
    if session.get_transaction() is None:
        session.begin()  # as ``Session.add`` would: a rollback or close then drops the entry
    session.info.setdefault(_PENDING, []).append(
        {
            "ticket_id": ticket_id,
            "actor": actor,
            "action": action,
            "field": field,
            "old_value": old,
            "new_value": new,
            "detail": detail,
            "at": at if at is not None else utcnow(),
        }
    )


def write_pending(session: Session) -> None:
    """Write the buffered entries now (the hooks below call it; so may a raw-SQL reader)."""
    rows: list[dict[str, Any]] | None = session.info.pop(_PENDING, None)
    if rows:
        insert_rows(session, AuditEntry, rows)


@contextmanager
def savepoint(session: Session) -> Iterator[SessionTransaction]:
    """``session.begin_nested()``, with the entries buffered so far written first: they
    belong to the enclosing transaction, whatever becomes of the savepoint."""
    write_pending(session)
    with session.begin_nested() as nested:
        yield nested


@event.listens_for(Session, "do_orm_execute")
def _before_query(state: ORMExecuteState) -> None:
    if state.session.autoflush and state.session.info.get(_PENDING):
        write_pending(state.session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    nested = session.get_nested_transaction()
    held = session.info.get(_HELD, {}).pop(nested, []) if nested is not None else []
    if held:  # a savepoint being released: the rows from before it come first
        session.info[_PENDING] = held + session.info.get(_PENDING, [])
    if session.info.get(_PENDING):
        session.flush()  # the tickets they name, should any be pending still
        write_pending(session)


@event.listens_for(Session, "after_transaction_create")
def _savepoint_began(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        held = session.info.setdefault(_HELD, {})
        held[transaction] = session.info.pop(_PENDING, [])


@event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session: Session, transaction: SessionTransaction) -> None:
    # A flush runs in a subtransaction of its own: its end changes nothing here.
    if not transaction.nested and transaction.parent is not None:
        return
    # A committed transaction has written its rows in before_commit: what is left belongs
    # to one that rolled back, and goes with it.
    session.info.pop(_PENDING, None)
    if transaction.nested:
        rows = session.info.get(_HELD, {}).pop(transaction, [])
        if rows:
            session.info[_PENDING] = rows
