"""Rows written with one Core statement behave as the ORM's own objects would.

``postdesk.store.direct`` hands the session objects it wrote itself; these tests hold it to
what the ORM promises for its own: defaults applied, nothing left to flush or fetch again,
later changes written, and nothing from an undone savepoint or transaction handed out.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import event, select

from postdesk.store.db import Database
from postdesk.store.direct import (
    ask_id,
    flush_pending,
    insert_persistent,
    insert_rows,
    insert_unless_conflict,
    update_persistent,
)
from postdesk.store.models import Contact, InboxItem, Participant, Ticket

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def _statements(db: Database) -> list[str]:
    seen: list[str] = []

    @event.listens_for(db.engine, "before_cursor_execute")
    def _statement(_c, _cur, statement: str, *_rest: object) -> None:  # type: ignore[no-untyped-def]
        seen.append(" ".join(statement.split()))

    return seen


def _inbox(n: int) -> InboxItem:
    return InboxItem(content_hash=f"{n:064x}", source="smtp", message_id=f"m{n}@example.org")


def test_an_object_written_directly_is_persistent_with_its_defaults(db: Database) -> None:
    statements = _statements(db)
    with db.transaction() as s:
        item = insert_persistent(s, _inbox(1))
        written = len(statements)
        # Every column is loaded (defaults included): reading them asks nothing more.
        assert (item.state, item.attempts, item.envelope_to, item.authenticated) == (
            "received",
            0,
            [],
            False,
        )
        assert item.received_at is not None and item.error is None
        assert len(statements) == written
        assert item in s and not s.new and not s.dirty
        assert s.get(InboxItem, item.id) is item  # the identity map holds it
        s.flush()
        assert len(statements) == written  # nothing to flush
        item.state = "processed"  # a later change is flushed as for any loaded object
    with db.sessions() as s:
        stored = s.get(InboxItem, item.id)
        assert stored is not None and stored.state == "processed"
        assert stored.message_id == "m1@example.org" and stored.received_at == item.received_at


def test_an_undone_savepoint_takes_its_direct_rows_out_of_the_session(db: Database) -> None:
    with db.transaction() as s:
        kept = insert_persistent(s, _inbox(1))
        nested = s.begin_nested()
        ghost = insert_persistent(s, _inbox(2))
        inner = s.begin_nested()
        deeper = insert_persistent(s, _inbox(3))
        inner.commit()  # released: its row now stands or falls with ``nested``
        nested.rollback()
        assert kept in s and ghost not in s and deeper not in s
        assert s.get(InboxItem, ghost.id) is None and s.get(InboxItem, deeper.id) is None
        assert s.get(InboxItem, kept.id) is kept
    with db.sessions() as s:
        assert s.scalars(select(InboxItem.message_id)).all() == ["m1@example.org"]


def test_a_released_savepoint_keeps_its_rows_with_the_transaction(db: Database) -> None:
    with db.transaction() as s:
        with s.begin_nested():
            inside = insert_persistent(s, _inbox(4))
        assert inside in s
    with db.sessions() as s:
        assert s.get(InboxItem, inside.id) is not None


def test_a_rolled_back_transaction_hands_out_none_of_its_rows(db: Database) -> None:
    session = db.sessions()
    with session:
        session.begin()
        lost = insert_persistent(session, _inbox(5))
        lost_id = lost.id
        session.rollback()
        assert lost not in session
        assert session.get(InboxItem, lost_id) is None


def test_update_persistent_writes_and_leaves_nothing_to_flush(db: Database) -> None:
    statements = _statements(db)
    with db.transaction() as s:
        item = insert_persistent(s, _inbox(6))
        update_persistent(s, item, state="processed", processed_at=NOW, attempts=1)
        assert (item.state, item.processed_at, item.attempts) == ("processed", NOW, 1)
        assert not s.dirty
        before = len(statements)
        s.flush()
        assert len(statements) == before
    # Written at once on SQLite; on PostgreSQL with the next statement, here the COMMIT.
    assert any(st.startswith("UPDATE inbox SET") for st in statements)
    with db.sessions() as s:
        stored = s.get(InboxItem, item.id)
        assert stored is not None and (stored.state, stored.attempts) == ("processed", 1)
        assert stored.processed_at == NOW


def test_plain_rows_take_their_defaults_and_flush_pending_flushes_only_its_models(
    db: Database,
) -> None:
    with db.transaction() as s:
        ticket = Ticket(subject="t", support_address="support@example.com")
        s.add(ticket)
        s.flush()
        insert_rows(s, Participant, [{"ticket_id": ticket.id, "email": "a@example.org"}])
        s.add(Contact(email="pending@example.org"))
        flush_pending(s, Participant)
        assert s.new  # the contact is not a Participant: still pending
        flush_pending(s, Contact)
        assert not s.new
        roles = s.execute(select(Participant.email, Participant.role)).all()
    assert [tuple(r) for r in roles] == [("a@example.org", "cc")]


def test_an_explicit_none_takes_the_column_default_as_in_the_orm(db: Database) -> None:
    with db.transaction() as s:
        direct = insert_persistent(
            s, InboxItem(content_hash=f"{7:064x}", source="smtp", state=None, attempts=None)
        )
        by_orm = InboxItem(content_hash=f"{8:064x}", source="smtp", state=None, attempts=None)
        s.add(by_orm)
        s.flush()
        assert (direct.state, direct.attempts) == ("received", 0)
        assert (by_orm.state, by_orm.attempts) == ("received", 0)
    with db.sessions() as s:
        stored = s.scalars(select(InboxItem.state).where(InboxItem.id == direct.id)).one()
    assert stored == "received"


def test_an_undone_savepoint_expires_what_update_persistent_set_in_it(db: Database) -> None:
    with db.transaction() as s:
        item = insert_persistent(s, _inbox(9))
        nested = s.begin_nested()
        update_persistent(s, item, state="processed", attempts=3)
        inner = s.begin_nested()
        update_persistent(s, item, error="deeper")
        inner.commit()  # released: the change is undone with ``nested``
        nested.rollback()
        # Read again from the row, which the rollback restored.
        assert (item.state, item.attempts, item.error) == ("received", 0, None)
        with s.begin_nested():
            update_persistent(s, item, state="failed")
        assert item.state == "failed"  # a released savepoint's change stands
    with db.sessions() as s:
        stored = s.get(InboxItem, item.id)
        assert stored is not None and (stored.state, stored.attempts) == ("failed", 0)


def _inserts(statements: list[str]) -> list[str]:
    return [st for st in statements if st.startswith("INSERT")]


def test_an_id_taken_ahead_is_the_rows_and_its_insert_goes_with_the_next_statement(
    db: Database,
) -> None:
    """On PostgreSQL ``ask_id`` takes the table's next id with the next trip, and the next
    INSERT of that model uses it without waiting for RETURNING. Elsewhere nothing changes."""
    statements = _statements(db)
    with db.transaction() as s:
        ask_id(s, InboxItem)
        # Asked just now, the id is fetched at once (in real use an earlier trip took it).
        earlier = insert_persistent(s, _inbox(1))
        ask_id(s, InboxItem)
        nextval = [st for st in statements if "nextval" in st]
        assert len(nextval) == (1 if db.is_postgres else 0)
        item = insert_persistent(s, _inbox(2))  # the first INSERT goes with this nextval
        if db.is_postgres:
            assert item.id > earlier.id  # the second id taken from the sequence
            assert len(_inserts(statements)) == 1  # its INSERT is held back
            assert "RETURNING" not in statements[-1]
        else:
            assert len(_inserts(statements)) == 2
        assert s.get(InboxItem, item.id) is item and not s.new and not s.dirty
        ask_id(s, InboxItem)  # taken and never used: a gap in the sequence, nothing else
    with db.sessions() as s:
        stored = s.scalars(select(InboxItem).order_by(InboxItem.id)).all()
        assert [(r.id, r.message_id) for r in stored] == [
            (earlier.id, "m1@example.org"),
            (item.id, "m2@example.org"),
        ]
        assert stored[1].received_at == item.received_at


def test_an_id_forgotten_or_of_a_row_with_its_own_id_is_not_used(db: Database) -> None:
    with db.transaction() as s:
        ask_id(s, InboxItem)
        s.add(Ticket(subject="t", support_address="support@example.com", origin="email"))
        s.flush()  # forgets what was asked ahead: the ORM may have written anything
        first = insert_persistent(s, _inbox(1))  # INSERT ... RETURNING, as without an ask
        ask_id(s, Contact)
        contact = insert_persistent(s, Contact(id=first.id + 100, email="a@example.org"))
        assert contact.id == first.id + 100  # an id given is kept
        other = insert_persistent(s, Contact(email="b@example.org"))
    with db.sessions() as s:
        assert s.get(InboxItem, first.id) is not None
        emails = {c.id: c.email for c in s.scalars(select(Contact))}
        assert emails == {first.id + 100: "a@example.org", other.id: "b@example.org"}


def test_a_row_written_with_an_id_taken_ahead_goes_with_its_rolled_back_savepoint(
    db: Database,
) -> None:
    with db.transaction() as s:
        kept = insert_persistent(s, _inbox(1))
        nested = s.begin_nested()
        ask_id(s, InboxItem)
        ghost = insert_persistent(s, _inbox(2))
        nested.rollback()
        assert ghost not in s and kept in s
        ask_id(s, InboxItem)
        after = insert_persistent(s, _inbox(3))
    with db.sessions() as s:
        ids = s.scalars(select(InboxItem.id).order_by(InboxItem.id)).all()
        assert ids == [kept.id, after.id]


def test_a_transaction_rolled_back_sends_no_insert_held_for_an_id_taken_ahead(
    db: Database,
) -> None:
    statements = _statements(db)
    session = db.sessions()
    with session:
        session.begin()
        ask_id(session, InboxItem)
        lost = insert_persistent(session, _inbox(5))
        session.rollback()
        assert lost not in session
    assert len(_inserts(statements)) == (0 if db.is_postgres else 1)
    with db.sessions() as s:
        assert s.scalars(select(InboxItem)).all() == []


def test_a_row_written_unless_in_conflict_takes_another_tables_next_id_only_if_written(
    db: Database,
) -> None:
    """``insert_unless_conflict(..., also=Ticket)``: on PostgreSQL the same INSERT takes the
    ticket's number when it writes the row, and the next ticket is written with it, held;
    a row in conflict takes none (no gap in numbers people see). Elsewhere nothing changes."""
    statements = _statements(db)
    with db.transaction() as s:
        row = insert_unless_conflict(s, _inbox(1), also=Ticket)
        assert row is not None
        before = len(_inserts(statements))
        ticket = insert_persistent(
            s, Ticket(subject="t", support_address="support@example.com", origin="email")
        )
        if db.is_postgres:
            assert len(_inserts(statements)) == before  # held: the id was already there
        assert insert_unless_conflict(s, _inbox(1), also=Ticket) is None  # seen before
        second = insert_persistent(
            s, Ticket(subject="u", support_address="support@example.com", origin="email")
        )
    assert second.id == ticket.id + 1  # the conflict took no number
    with db.sessions() as s:
        stored = s.execute(select(Ticket.id, Ticket.subject).order_by(Ticket.id)).all()
        assert [tuple(r) for r in stored] == [(ticket.id, "t"), (second.id, "u")]
