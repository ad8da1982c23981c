"""Audit entries are buffered and written in batches, with the ORM's transaction semantics."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from postdesk.store.audit_log import audit, savepoint
from postdesk.store.db import Database
from postdesk.store.models import AuditEntry, Ticket


def _ticket(s: Session) -> int:
    ticket = Ticket(subject="t", support_address="support@example.com", origin="email")
    s.add(ticket)
    s.flush()
    return ticket.id


def _actions(db: Database, ticket_id: int) -> list[str]:
    with db.sessions() as s:
        query = select(AuditEntry.action).where(AuditEntry.ticket_id == ticket_id)
        return list(s.scalars(query.order_by(AuditEntry.id)))


def test_entries_batched_into_one_insert_and_kept_in_order(db: Database) -> None:
    inserts: list[bool] = []

    @event.listens_for(db.engine, "before_cursor_execute")
    def _seen(_c, _cur, statement: str, _p, _ctx, many: bool) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith("INSERT INTO audit"):
            inserts.append(many)

    with db.transaction() as s:
        tid = _ticket(s)
        for action in ("created", "rule", "assigned", "mail_withheld"):
            audit(s, tid, "system", action)
        s.flush()  # a flush alone does not write them (nor drop them)
        assert inserts == []
    assert inserts == [True]
    assert _actions(db, tid) == ["created", "rule", "assigned", "mail_withheld"]


def test_a_query_in_the_same_transaction_sees_them_unless_autoflush_is_off(db: Database) -> None:
    with db.transaction() as s:
        tid = _ticket(s)
        audit(s, tid, "system", "first")
        with s.no_autoflush:
            hidden = s.scalars(select(AuditEntry.action).where(AuditEntry.ticket_id == tid)).all()
        seen = s.scalars(select(AuditEntry.action).where(AuditEntry.ticket_id == tid)).all()
    assert (hidden, seen) == ([], ["first"])


def test_a_rolled_back_savepoint_drops_only_its_own_entries(db: Database) -> None:
    with db.transaction() as s:
        tid = _ticket(s)
        audit(s, tid, "system", "before")
        nested = s.begin_nested()
        audit(s, tid, "system", "undone")
        nested.rollback()
        audit(s, tid, "system", "between")
        with s.begin_nested():  # opened directly: earlier rows still come first
            audit(s, tid, "system", "kept")
        audit(s, tid, "system", "after")
    assert _actions(db, tid) == ["before", "between", "kept", "after"]


def test_savepoint_writes_the_earlier_entries_into_the_enclosing_transaction(
    db: Database,
) -> None:
    with db.transaction() as s:
        tid = _ticket(s)
        audit(s, tid, "system", "created")
        with pytest.raises(RuntimeError), savepoint(s):
            audit(s, tid, "system", "undone")
            inside = s.scalars(select(AuditEntry.action).where(AuditEntry.ticket_id == tid))
            assert list(inside) == ["created", "undone"]
            raise RuntimeError("the estimate failed")
        with savepoint(s):
            audit(s, tid, "system", "estimate_suggested")
        audit(s, tid, "system", "after")
    assert _actions(db, tid) == ["created", "estimate_suggested", "after"]


def test_rows_wait_for_a_ticket_flushed_only_at_commit(db: Database) -> None:
    """Written after the commit's flush: an entry may name a ticket still pending then."""
    with db.transaction() as s:
        s.add(Ticket(id=987654, subject="t", support_address="s@example.com", origin="email"))
        audit(s, 987654, "system", "created")
    assert _actions(db, 987654) == ["created"]


def test_a_savepoint_that_wrote_and_then_rolled_back_leaves_earlier_entries(db: Database) -> None:
    with db.transaction() as s:
        tid = _ticket(s)
        audit(s, tid, "system", "before")
        nested = s.begin_nested()
        audit(s, tid, "system", "undone")
        s.scalars(select(AuditEntry.id)).all()  # writes "undone" inside the savepoint
        nested.rollback()
    assert _actions(db, tid) == ["before"]


def test_a_rolled_back_transaction_writes_nothing_and_leaves_nothing_behind(
    db: Database,
) -> None:
    with db.transaction() as s:
        tid = _ticket(s)
    with pytest.raises(RuntimeError), db.transaction() as s:
        audit(s, tid, "system", "lost")
        raise RuntimeError("processing failed")
    with db.sessions() as s:
        audit(s, tid, "system", "undone")
        s.rollback()
        audit(s, tid, "system", "next")
        s.commit()
    assert _actions(db, tid) == ["next"]
