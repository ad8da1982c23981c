"""Statements run on the driver's cursor behave as SQLAlchemy's ``Connection.execute`` would.

``postdesk.store.prepared`` skips SQLAlchemy's execution layer for the ingest path's hot
statements; these tests hold it to what that layer does: types converted both ways, the
transaction and its savepoints honoured, SQLAlchemy's exceptions raised, a dead connection
invalidated, and the cursor events fired for whoever listens.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, event, func, insert, select, update
from sqlalchemy.exc import IntegrityError, PendingRollbackError, StatementError
from sqlalchemy.orm import Session

from postdesk.store.db import Database
from postdesk.store.models import InboxItem, Ticket
from postdesk.store.prepared import Prepared, forget_answers
from tests.support.databases import PostgresServer
from tests.support.round_trips import round_trips

NOW = datetime(2026, 12, 6, 9, 30, 15, 123456, tzinfo=UTC)
INBOX = InboxItem.__table__
INSERT = Prepared(
    insert(INBOX).returning(INBOX.c.id),
    ["content_hash", "source", "message_id", "envelope_to", "received_at", "authenticated"],
)
BY_ID = Prepared(
    select(INBOX.c.envelope_to, INBOX.c.received_at, INBOX.c.authenticated, INBOX.c.state).where(
        INBOX.c.id == bindparam("id")
    )
)
COUNT_SMTP = Prepared(select(func.count()).select_from(INBOX).where(INBOX.c.source == "smtp"))
BACKEND = Prepared(select(func.pg_backend_pid()))


@pytest.fixture
def pg_db(postgres_server: PostgresServer | None) -> Iterator[Database]:
    """An empty PostgreSQL store of the test's own (for tests of connections and servers)."""
    if postgres_server is None:
        pytest.skip("PostgreSQL not reachable (set POSTDESK_TEST_PG_URL)")
    postgres_server.truncate()
    db = Database(postgres_server.url)
    yield db
    db.dispose()


def _terminate(db: Database, *pids: int) -> None:
    """End these server processes from a pool of its own (not one of ``db``'s connections)."""
    killer = Database(db.url)
    with killer.sessions() as k:
        for pid in pids:
            k.execute(select(func.pg_terminate_backend(pid)))
    killer.dispose()


def _row(n: int, source: str = "smtp") -> dict[str, object]:
    return {
        "content_hash": f"{n:064x}",
        "source": source,
        "message_id": f"m{n}@example.org",
        "envelope_to": [f"support+{n}@example.com"],
        "received_at": NOW + timedelta(minutes=n),
        "authenticated": n % 2 == 1,
    }


def test_values_go_in_and_come_back_as_the_column_types_say(db: Database) -> None:
    with db.transaction() as s:
        new_id = INSERT.scalar(s, _row(1))
        assert isinstance(new_id, int)
        # JSON, an aware UTC datetime (UTCDateTime), a boolean, a default filled by the database
        assert BY_ID.first(s, {"id": new_id}) == (
            ["support+1@example.com"],
            NOW + timedelta(minutes=1),
            True,
            "received",
        )
        assert BY_ID.first(s, {"id": new_id + 1000}) is None
    with db.sessions() as s:  # committed, and read the same by the ORM
        item = s.get(InboxItem, new_id)
        assert item is not None and item.received_at == NOW + timedelta(minutes=1)
        assert item.envelope_to == ["support+1@example.com"] and item.authenticated is True


def test_values_written_into_the_statement_are_sent(db: Database) -> None:
    with db.transaction() as s:
        INSERT.scalar(s, _row(1, "smtp"))
        INSERT.scalar(s, _row(2, "imap:box"))
        INSERT.scalar(s, _row(3, "smtp"))
        assert COUNT_SMTP.scalar(s, {}) == 2  # ``source == "smtp"`` is a bound literal


def test_a_naive_datetime_is_refused_as_the_orm_refuses_it(db: Database) -> None:
    with pytest.raises(ValueError, match="naive"), db.transaction() as s:
        INSERT.scalar(s, _row(1) | {"received_at": datetime(2026, 1, 1)})


def test_many_rows_in_one_call(db: Database) -> None:
    with db.transaction() as s:
        plain = Prepared(insert(INBOX), list(_row(0)))
        plain.execute_many(s, [_row(n) for n in range(5)])
        plain.execute_many(s, [])  # nothing to do is not an error
        assert COUNT_SMTP.scalar(s, {}) == 5


def test_savepoints_and_rollback_undo_what_ran_on_the_cursor(db: Database) -> None:
    with db.transaction() as s:
        kept = INSERT.scalar(s, _row(1))
        nested = s.begin_nested()
        INSERT.scalar(s, _row(2))
        inner = s.begin_nested()
        INSERT.scalar(s, _row(3))
        inner.commit()
        nested.rollback()
        assert [r[0] for r in Prepared(select(INBOX.c.id)).all(s, {})] == [kept]
        INSERT.scalar(s, _row(4))  # the cursor goes on after the savepoint
    with db.transaction() as s:
        INSERT.scalar(s, _row(5))
        s.rollback()
    with db.sessions() as s:
        assert sorted(s.scalars(select(InboxItem.message_id))) == [
            "m1@example.org",
            "m4@example.org",
        ]


def test_a_unique_key_twice_raises_sqlalchemys_integrity_error(db: Database) -> None:
    with pytest.raises(IntegrityError) as raised, db.transaction() as s:
        INSERT.scalar(s, _row(1))
        INSERT.scalar(s, _row(1))
    assert "INSERT INTO inbox" in str(raised.value)
    with db.transaction() as s:  # the session and the pool are fine afterwards
        assert INSERT.scalar(s, _row(1)) is not None


@pytest.mark.postgres
def test_a_connection_that_went_away_is_invalidated(pg_db: Database) -> None:
    db = pg_db
    with db.sessions() as s:
        victim = BACKEND.scalar(s, {})  # the session holds its connection until it ends
        _terminate(db, victim)
        with pytest.raises(StatementError) as raised:
            COUNT_SMTP.scalar(s, {})
    assert getattr(raised.value, "connection_invalidated", False)
    with db.sessions() as s:  # a fresh connection serves the next session
        assert COUNT_SMTP.scalar(s, {}) == 0


def test_cursor_events_fire_for_listeners(db: Database) -> None:
    seen: list[tuple[str, str]] = []

    @event.listens_for(db.engine, "before_cursor_execute")
    def _before(_c, _cur, statement, _p, _ctx, many):  # type: ignore[no-untyped-def]
        seen.append(("before", statement.split()[0] + (" many" if many else "")))

    @event.listens_for(db.engine, "after_cursor_execute")
    def _after(_c, _cur, statement, _p, _ctx, many):  # type: ignore[no-untyped-def]
        seen.append(("after", statement.split()[0] + (" many" if many else "")))

    with db.transaction() as s:
        INSERT.scalar(s, _row(1))
        Prepared(insert(INBOX), list(_row(0))).execute_many(s, [_row(2), _row(3)])
    assert [e for e in seen if e[1] != "BEGIN"] == [
        ("before", "INSERT"),
        ("after", "INSERT"),
        ("before", "INSERT many"),
        ("after", "INSERT many"),
    ]


def test_the_orm_sees_what_ran_on_the_cursor_and_vice_versa(db: Database) -> None:
    touch = Prepared(update(Ticket.__table__).where(Ticket.id == bindparam("tid")), ["subject"])
    with db.transaction() as s:
        ticket = Ticket(subject="before", support_address="support@example.com", origin="email")
        s.add(ticket)
        s.flush()
        touch.execute(s, {"tid": ticket.id, "subject": "after"})
        s.expire(ticket)
        assert ticket.subject == "after"


def test_expanding_parameters_are_refused_up_front(db: Database) -> None:
    wanted = Prepared(select(INBOX.c.id).where(INBOX.c.id.in_(bindparam("ids", expanding=True))))
    with pytest.raises(ValueError, match="expanding"), db.transaction() as s:
        wanted.all(s, {"ids": [1, 2]})


def test_later_writes_go_before_the_next_statement_and_with_the_commit(db: Database) -> None:
    """On PostgreSQL ``later`` holds a write back to share the next round trip; whatever
    runs next (a prepared read, an ORM query, COMMIT) sees it. Elsewhere it runs at once."""
    plain = Prepared(insert(INBOX), list(_row(0)))
    statements: list[str] = []

    @event.listens_for(db.engine, "before_cursor_execute")
    def _seen(_c, _cur, statement, *_rest):  # type: ignore[no-untyped-def]
        statements.append(statement.split()[0])

    with db.transaction() as s:
        plain.later(s, [_row(1), _row(2)])
        held_back = "INSERT" not in statements
        assert held_back == db.is_postgres
        assert COUNT_SMTP.scalar(s, {}) == 2  # a prepared read sends it first
        plain.later(s, [_row(3)])
        assert s.scalar(select(func.count()).select_from(InboxItem)) == 3  # so does the ORM
        plain.later(s, [_row(4)])  # and the COMMIT
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(InboxItem)) == 4


def test_later_writes_of_a_rolled_back_transaction_are_never_sent(db: Database) -> None:
    plain = Prepared(insert(INBOX), list(_row(0)))
    with db.transaction() as s:
        plain.later(s, [_row(1)])
        s.rollback()
    with db.transaction() as s:  # the next transaction on that connection sends nothing old
        INSERT.scalar(s, _row(2))
    with db.sessions() as s:
        assert list(s.scalars(select(InboxItem.message_id))) == ["m2@example.org"]


def test_an_error_in_a_later_write_fails_the_transaction(db: Database) -> None:
    plain = Prepared(insert(INBOX), list(_row(0)))
    with pytest.raises(IntegrityError), db.transaction() as s:
        INSERT.scalar(s, _row(1))
        plain.later(s, [_row(1)])  # the same unique content hash again
        COUNT_SMTP.scalar(s, {})
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(InboxItem)) == 0


def test_an_error_in_a_write_sent_with_the_commit_fails_the_commit(db: Database) -> None:
    plain = Prepared(insert(INBOX), list(_row(0)))
    with pytest.raises(IntegrityError), db.transaction() as s:
        INSERT.scalar(s, _row(1))
        plain.later(s, [_row(2), _row(1)])  # the second breaks the unique hash, at COMMIT
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(InboxItem)) == 0
    with db.transaction() as s:  # the connection is usable again
        INSERT.scalar(s, _row(3))
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(InboxItem)) == 1


@pytest.mark.postgres
def test_a_pooled_connection_that_died_while_idle_is_replaced_unseen(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Idle connections are tested before use (``db.IDLE_PING_SECONDS``); one the server
    ended meanwhile is replaced, and the transaction never sees it."""
    from postdesk.store import db as db_module

    db = pg_db
    with db.sessions() as s:
        first = BACKEND.scalar(s, {})
    _terminate(db, first)  # the connection now idle in the pool
    monkeypatch.setattr(db_module, "IDLE_PING_SECONDS", 0.0)
    with db.transaction() as s:  # the pool hands out the dead one first: pinged, replaced
        assert BACKEND.scalar(s, {}) != first
        INSERT.scalar(s, _row(1))
    # Just given back: used without a ping (in steady use a connection is alive).
    monkeypatch.setattr(db_module, "IDLE_PING_SECONDS", 3600.0)
    with db.sessions() as s:
        assert COUNT_SMTP.scalar(s, {}) == 1


def test_a_write_held_back_in_a_savepoint_stands_or_falls_with_the_savepoint(
    db: Database,
) -> None:
    """Inside a savepoint ``later`` writes at once: a bad row fails there, the savepoint is
    undone, and the enclosing transaction goes on (on PostgreSQL too)."""
    plain = Prepared(insert(INBOX), list(_row(0)))
    with db.transaction() as s:
        INSERT.scalar(s, _row(1))
        plain.later(s, [_row(2)])  # held back (PostgreSQL) before the savepoint: sent with it
        with pytest.raises(IntegrityError), s.begin_nested():
            plain.later(s, [_row(3), _row(1)])  # the second breaks the unique hash, here
        with s.begin_nested():
            plain.later(s, [_row(4)])
        plain.later(s, [_row(5)])
    with db.sessions() as s:
        assert sorted(s.scalars(select(InboxItem.message_id))) == [
            f"m{n}@example.org" for n in (1, 2, 4, 5)
        ]


def test_writes_held_on_a_connection_never_reach_its_next_transaction(db: Database) -> None:
    """A session dropped without commit, rollback or close gives its connection back to the
    pool unseen; what it held back goes with it."""
    plain = Prepared(insert(INBOX), list(_row(0)))

    def abandoned() -> None:
        s = db.sessions()
        INSERT.scalar(s, _row(1))
        plain.later(s, [_row(2)])

    abandoned()
    gc.collect()
    with db.transaction() as s:
        INSERT.scalar(s, _row(3))
    with db.sessions() as s:
        assert list(s.scalars(select(InboxItem.message_id))) == ["m3@example.org"]


def test_a_statement_failure_swallowed_on_postgresql_fails_the_commit(db: Database) -> None:
    """PostgreSQL refuses the rest of a transaction once a statement failed; committing it
    rolls back without a word from the driver. The commit raises instead."""
    refused = pytest.raises(PendingRollbackError) if db.is_postgres else contextlib.nullcontext()
    with refused, db.transaction() as s:
        INSERT.scalar(s, _row(1))
        with contextlib.suppress(IntegrityError):  # a broad except somewhere in a rule
            INSERT.scalar(s, _row(1))
    with db.sessions() as s:
        kept = s.scalar(select(func.count()).select_from(InboxItem))
    assert kept == (0 if db.is_postgres else 1)  # SQLite goes on after a failed statement


def test_a_missing_parameter_is_named(db: Database) -> None:
    with pytest.raises(StatementError, match="content_hash"), db.transaction() as s:
        INSERT.scalar(s, {k: v for k, v in _row(1).items() if k != "content_hash"})


def test_numeric_and_float_columns_come_back_on_both_databases(db: Database) -> None:
    from postdesk.store.direct import ObjectQuery
    from postdesk.store.task_models import TicketEstimate

    estimates = ObjectQuery(TicketEstimate, TicketEstimate.ticket_id == bindparam("tid"))
    with db.transaction() as s:
        ticket = Ticket(subject="t", support_address="support@example.com", origin="email")
        s.add(ticket)
        s.flush()
        s.add(TicketEstimate(ticket_id=ticket.id, suggested_minutes=30, client_factor=1.25))
    with db.sessions() as s:
        (row,) = estimates.all(s, {"tid": ticket.id})
        assert (row.suggested_minutes, row.client_factor) == (30, 1.25)


@pytest.mark.postgres
def test_a_lost_server_renews_the_whole_pool(pg_db: Database) -> None:
    """Connections used moments ago are not pinged; when the server ended them all, the
    first statement to notice renews the pool, as SQLAlchemy's own execute does, and the
    transactions after it connect afresh."""
    db = pg_db
    sessions = [db.sessions() for _ in range(4)]
    pids = [BACKEND.scalar(s, {}) for s in sessions]
    for s in sessions:
        s.close()
    _terminate(db, *pids)
    outcomes: list[object] = []
    for _ in range(4):
        try:
            with db.transaction() as s:
                outcomes.append(BACKEND.scalar(s, {}) not in pids)
        except StatementError as exc:
            outcomes.append(f"invalidated={getattr(exc, 'connection_invalidated', None)}")
    assert outcomes == ["invalidated=True", True, True, True]


def test_update_persistent_sets_onupdate_columns_on_the_row_and_the_object(db: Database) -> None:
    from postdesk.store.direct import insert_persistent, update_persistent

    with db.transaction() as s:
        ticket = insert_persistent(
            s,
            Ticket(
                subject="t",
                support_address="support@example.com",
                origin="email",
                created_at=NOW,
                updated_at=NOW,
            ),
        )
        update_persistent(s, ticket, subject="renamed")
        assert ticket.updated_at > NOW  # Ticket.updated_at has an onupdate
        seen = ticket.updated_at
    with db.sessions() as s:
        stored = s.get(Ticket, ticket.id)
        assert stored is not None and stored.subject == "renamed" and stored.updated_at == seen


def _statements(db: Database) -> list[str]:
    seen: list[str] = []

    @event.listens_for(db.engine, "before_cursor_execute")
    def _seen(_c, _cur, statement, *_rest):  # type: ignore[no-untyped-def]
        if not statement.startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE
            seen.append(statement.split()[0])

    return seen


def test_a_read_asked_ahead_goes_with_the_next_statement_and_is_taken_once(db: Database) -> None:
    """On PostgreSQL ``ask`` sends a read with the next statement; the same read later takes
    that answer instead of a trip of its own. Elsewhere it does nothing."""
    statements = _statements(db)
    with db.transaction() as s:
        INSERT.scalar(s, _row(1))
        COUNT_SMTP.ask(s, {})
        assert statements == ["INSERT"]  # nothing sent yet
        INSERT.scalar(s, _row(2, "imap:box"))  # on PostgreSQL it carries the read
        assert statements == (["INSERT", "SELECT", "INSERT"] if db.is_postgres else ["INSERT"] * 2)
        assert COUNT_SMTP.scalar(s, {}) == 1
        assert statements.count("SELECT") == 1  # the answer taken, not asked again
        INSERT.scalar(s, _row(3))
        assert COUNT_SMTP.scalar(s, {}) == 2  # taken once: the next read asks the store
        assert statements.count("SELECT") == 2


def test_taken_hands_out_an_answer_but_never_reads_itself(db: Database) -> None:
    statements = _statements(db)
    with db.transaction() as s:
        assert COUNT_SMTP.taken(s, {}) is None  # not asked: nothing is run
        assert statements == []
        INSERT.scalar(s, _row(1))
        COUNT_SMTP.ask(s, {})
        assert COUNT_SMTP.taken(s, {}) == ([(1,)] if db.is_postgres else None)
        assert COUNT_SMTP.taken(s, {}) is None  # taken once
    assert statements == (["INSERT", "SELECT"] if db.is_postgres else ["INSERT"])


def test_an_answer_is_taken_only_by_the_same_parameters(db: Database) -> None:
    statements = _statements(db)
    with db.transaction() as s:
        first = INSERT.scalar(s, _row(1))
        second = INSERT.scalar(s, _row(2, "imap:box"))
        BY_ID.ask(s, {"id": first})
        assert BY_ID.first(s, {"id": second}) == (  # another id: its own read, carrying the ask
            ["support+2@example.com"],
            NOW + timedelta(minutes=2),
            False,
            "received",
        )
        reads = statements.count("SELECT")
        assert reads == (2 if db.is_postgres else 1)
        row = BY_ID.first(s, {"id": first})
        assert row is not None and row[0] == ["support+1@example.com"] and row[2] is True
        assert statements.count("SELECT") == (reads if db.is_postgres else reads + 1)


def test_asking_again_replaces_the_earlier_answer(db: Database) -> None:
    with db.transaction() as s:
        COUNT_SMTP.ask(s, {})
        INSERT.scalar(s, _row(1))  # carries the first question: 0
        COUNT_SMTP.ask(s, {})
        INSERT.scalar(s, _row(2, "imap:box"))  # carries the second: 1
        assert COUNT_SMTP.scalar(s, {}) == 1


def test_an_answer_nobody_took_is_withdrawn_not_sent_with_the_commit(db: Database) -> None:
    statements = _statements(db)
    with db.transaction() as s:
        COUNT_SMTP.ask(s, {})
        forget_answers(s)  # the caller is done: it does not go with the next statement
        INSERT.scalar(s, _row(1))
        COUNT_SMTP.ask(s, {})  # asked and never taken: not sent with the COMMIT
    assert statements == ["INSERT"]
    with db.sessions() as s:
        assert COUNT_SMTP.scalar(s, {}) == 1


def test_an_answer_is_forgotten_at_a_flush_and_a_savepoint_rollback(db: Database) -> None:
    """An answer may miss what was written after it was asked: a flush (the ORM may write
    anything) or a savepoint undone (the answer may count what it undid) forgets it."""
    tickets = Prepared(select(func.count()).select_from(Ticket))
    with db.transaction() as s:
        tickets.ask(s, {})
        INSERT.scalar(s, _row(1))  # carries the read on PostgreSQL: no ticket yet
        s.add(Ticket(subject="t", support_address="support@example.com", origin="email"))
        s.flush()
        assert tickets.scalar(s, {}) == 1

        nested = s.begin_nested()
        INSERT.scalar(s, _row(2))
        COUNT_SMTP.ask(s, {})
        INSERT.scalar(s, _row(3, "imap:box"))  # the answer would be 2
        nested.rollback()
        assert COUNT_SMTP.scalar(s, {}) == 1


def test_asked_reads_leave_no_cursor_open(db: Database) -> None:
    """Answers taken, forgotten at a flush or withdrawn at the commit close their cursors;
    outside PostgreSQL nothing is asked."""
    key = "postdesk.prepared.answers"
    with db.transaction() as s:
        COUNT_SMTP.ask(s, {})
        if not db.is_postgres:
            assert not s.info.get(key)
            return
        INSERT.scalar(s, _row(1))
        taken = s.info[key][(COUNT_SMTP, frozenset())][1]
        COUNT_SMTP.scalar(s, {})
        BY_ID.ask(s, {"id": 1})
        INSERT.scalar(s, _row(2))
        forgotten = s.info[key][(BY_ID, frozenset({("id", 1)}))][1]
        s.add(Ticket(subject="t", support_address="support@example.com", origin="email"))
        s.flush()
        assert not s.info.get(key)
        BY_ID.ask(s, {"id": 2})
        withdrawn = s.info[key][(BY_ID, frozenset({("id", 2)}))][1]
    assert taken.closed and forgotten.closed and withdrawn.closed


def test_answers_asked_in_a_transaction_that_ends_any_way_are_closed(db: Database) -> None:
    """Rolled back or closed with answers still waiting: the end of the transaction closes
    them (its connection is already back in the pool by then) and raises nothing."""
    key = "postdesk.prepared.answers"
    for end in ("rollback", "close", "error"):
        s = db.sessions()
        try:
            INSERT.scalar(s, _row(1))
            COUNT_SMTP.ask(s, {})
            asked = list(s.info.get(key, {}).values())
            if end == "rollback":
                s.rollback()
            elif end == "close":
                s.close()
            else:
                with pytest.raises(IntegrityError):
                    INSERT.scalar(s, _row(1))  # the same hash: carries the ask, fails
                s.rollback()
            assert not s.info.get(key)
            assert all(cursor.closed for _, cursor in asked)
        finally:
            s.close()
    with db.sessions() as s:
        assert COUNT_SMTP.scalar(s, {}) == 0


def test_an_answer_lost_with_a_failed_pipeline_raises_the_transactions_state(
    db: Database,
) -> None:
    """A read asked ahead whose carrier failed has no answer; taking it, after someone caught
    the first error, raises as any statement of that failed PostgreSQL transaction does
    (SQLite undoes only the failed statement and goes on)."""
    plain = Prepared(insert(INBOX), list(_row(0)))
    failed = contextlib.ExitStack()
    if db.is_postgres:
        raised = failed.enter_context(pytest.raises(StatementError))
    with failed, db.transaction() as s:
        INSERT.scalar(s, _row(1))
        with contextlib.suppress(IntegrityError):
            plain.later(s, [_row(1)])  # breaks the unique hash (SQLite: here and now)
            COUNT_SMTP.ask(s, {})  # queued after it: PostgreSQL never answers it
            BY_ID.first(s, {"id": 1})  # the trip that fails
        assert COUNT_SMTP.scalar(s, {}) == 1  # SQLite only: PostgreSQL raises here
    if db.is_postgres:
        assert "current transaction is aborted" in str(raised.value)
    with db.sessions() as s:
        assert COUNT_SMTP.scalar(s, {}) == (0 if db.is_postgres else 1)


def test_a_transaction_opens_in_the_trip_of_its_first_statement(pg_db: Database) -> None:
    """psycopg would wait for its BEGIN on its own (store.held_writes: ``_begin_in``)."""
    with round_trips(pg_db.engine) as trips, pg_db.transaction() as s:
        assert COUNT_SMTP.scalar(s, {}) == 0
        INSERT.later(s, [_row(1)])
    assert trips.count == 2, trips.trace  # BEGIN with the SELECT; the INSERT with COMMIT
    sent = [line for line in trips.trace.splitlines() if "\tF\t" in line]
    assert sum('"BEGIN"' in line for line in sent) == 1, trips.trace
    with pg_db.sessions() as s:
        assert COUNT_SMTP.scalar(s, {}) == 1


def test_a_transaction_opened_that_way_keeps_its_isolation_level(pg_db: Database) -> None:
    level = Prepared(select(func.current_setting("transaction_isolation")))
    engine = pg_db.engine.execution_options(isolation_level="REPEATABLE READ")
    with Session(engine) as s, s.begin():
        assert level.scalar(s, {}) == "repeatable read"
        INSERT.scalar(s, _row(1))
    with pg_db.transaction() as s:  # and the pool's default again on the next one
        assert level.scalar(s, {}) == "read committed"
        assert COUNT_SMTP.scalar(s, {}) == 1


def test_a_write_held_as_a_transactions_first_statement_opens_it_with_the_commit(
    pg_db: Database,
) -> None:
    with round_trips(pg_db.engine) as trips, pg_db.transaction() as s:
        INSERT.later(s, [_row(1), _row(2, "imap:box")])
    assert trips.count == 1, trips.trace  # BEGIN, both rows and COMMIT in one pipeline
    with pg_db.sessions() as s:
        assert COUNT_SMTP.scalar(s, {}) == 1
