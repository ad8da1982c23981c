"""The audit trail's writes, batched: one multi-row INSERT where the ORM made one per entry.

Processing one new ticket writes six or more entries, spread over as many flushes; as ORM
objects each cost an INSERT ... RETURNING and its share of unit-of-work bookkeeping, about
3 ms of the 20 a message takes (``benchmarks/profile_ingest.py``). Nothing reads an entry's
id, so ``audit`` keeps rows in the session and writes them with one Core statement:

- before any ORM query while autoflush is on (as the ORM flushes pending objects), so a
  query in the same transaction sees them;
- before the transaction (or a savepoint) commits.

A savepoint keeps its own rows: the ones buffered before it are held aside and come back
when it ends, and its own are dropped with it if it rolls back, as ORM objects would be.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from postdesk.clock import utcnow
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
        session.connection().execute(insert(AuditEntry), rows)


@event.listens_for(Session, "do_orm_execute")
def _before_query(state: ORMExecuteState) -> None:
    if state.session.autoflush and state.session.info.get(_PENDING):
        write_pending(state.session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
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
