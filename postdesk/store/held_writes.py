"""Statements on the driver's cursor, and on PostgreSQL the writes held back to share a trip.

A new message writes a dozen rows whose outcome nobody reads: participants, attachments,
audit entries, the inbox row's final state. On PostgreSQL each was a round trip of its own,
about 0.2 ms waiting and 0.1 ms of the driver's CPU. ``Prepared.later`` holds them here, on
the connection, and they go in one pipeline (psycopg's pipeline mode) with the next
statement of the transaction, or with its COMMIT. Reads whose parameters are known before
they are needed go the same way (``ask``, used by ``Prepared.ask``): their rows wait on a
cursor of their own until the code that needs them runs the same statement. So do ids taken
from a sequence ahead (``direct.ask_id``), which let an INSERT be held instead of waiting
for RETURNING, and the transaction's BEGIN goes with its first statement (``_begin_in``).
A lone new ticket takes 2 round trips, COMMIT included
(``tests/gateway/test_accept_transaction.py`` counts them on the wire): 24 before writes
were held, 13 before reads were asked ahead, 7 before ids were, 4 before BEGIN was, 3
before the inbox row's INSERT took the number of a ticket that its message surely opens
(``RowHandler.ask_ahead``, ``direct.insert_unless_conflict``).

The rules that keep that safe:

- every statement on the connection sends them first, in order: a prepared one here, one
  of SQLAlchemy's by the ``before_execute`` hook (ORM flushes, SAVEPOINT, ROLLBACK TO), the
  COMMIT by the ``commit`` hook (``db.make_engine`` registers the hooks);
- a ROLLBACK forgets them, and so does the pool when the connection comes back to it
  (``forget``), so nothing of one transaction reaches the next;
- nothing is held back inside a savepoint (``Prepared.later`` runs it at once there), so a
  write always stands or falls with the savepoint that made it;
- an error in any of them fails the statement they went with; PostgreSQL then refuses the
  rest of the transaction, and a COMMIT of such a transaction raises here instead of
  quietly rolling back, as the driver's own commit would;
- an asked read answers as of where it was asked; ``Prepared`` forgets the answers nobody
  took at every flush, rollback (also to a savepoint) and transaction end, and when its
  caller is done (``forget_answers``: the end of one message), so no answer outlives the
  writes it could miss.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, MutableMapping
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import PendingRollbackError

Step = tuple[str, Any, bool]  # sql, parameters (a list of them when many), many
Entry = tuple[Any, Step]  # the cursor its result waits on (an asked read), or None: a write
_PENDING = "postdesk.held_writes"  # connection.info: [Entry] not yet sent
_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE: no transaction open yet
_INERROR = 3  # psycopg.pq.TransactionStatus.INERROR: a statement of the transaction failed


def holds(connection: Connection) -> bool:
    """Whether writes may wait on this connection (PostgreSQL: psycopg's pipeline mode)."""
    return connection.dialect.name == "postgresql"


def hold(connection: Connection, sql: str, rows: list[Any]) -> None:
    connection.info.setdefault(_PENDING, []).append((None, (sql, rows, True)))


def ask(connection: Connection, sql: str, params: Any) -> Any:
    """Queue a read to go with the next trip; its rows wait on the cursor returned, which
    the caller closes. Sent after every write queued before it, so it sees them."""
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    connection.info.setdefault(_PENDING, []).append((cursor, (sql, params, False)))
    return cursor


def answer(connection: Connection, cursor: Any) -> None:
    """Make sure a read asked with ``ask`` has been sent (with whatever waits before it)."""
    pending = connection.info.get(_PENDING)
    if pending and any(target is cursor for target, _ in pending):
        send_pending(connection)


def withdraw(connection: Connection, cursors: Iterable[Any]) -> None:
    """Take back reads asked with ``ask`` that have not been sent yet (nobody needs them)."""
    pending = connection.info.get(_PENDING)
    if pending:
        gone = {id(c) for c in cursors}
        pending[:] = [entry for entry in pending if id(entry[0]) not in gone]


def run(connection: Connection, cursor: Any, step: Step) -> None:
    """Run one statement on ``cursor``, after the writes still waiting, in the same trip."""
    pending = connection.info.pop(_PENDING, None)
    _send(connection, cursor, pending or [], step)


def send_pending(connection: Connection, *_args: Any) -> None:
    """Before a statement SQLAlchemy runs: send the writes still waiting."""
    pending = None if connection.invalidated else connection.info.pop(_PENDING, None)
    if pending:
        _send(connection, None, pending, None)


def commit_pending(connection: Connection) -> None:
    """Before COMMIT: refuse to commit a transaction PostgreSQL has already failed, and send
    the writes still waiting with the COMMIT in one trip (the driver's own commit that
    follows then finds nothing to do)."""
    if connection.invalidated:
        return
    driver: Any = connection.connection.dbapi_connection
    if driver.info.transaction_status == _INERROR:
        connection.info.pop(_PENDING, None)
        raise PendingRollbackError(
            "a statement of this transaction failed; it is rolled back, not committed"
        )
    pending = connection.info.pop(_PENDING, None)
    if pending:
        _send(connection, None, pending, ("COMMIT", None, False))


def drop_pending(connection: Connection) -> None:
    """After ROLLBACK: the writes still waiting go with their transaction."""
    if not connection.invalidated:  # else they went with the connection's own info
        connection.info.pop(_PENDING, None)


def forget(info: MutableMapping[str, Any]) -> None:
    """A connection comes back to the pool: nothing waits on it any more."""
    info.pop(_PENDING, None)


def _send(connection: Connection, cursor: Any, pending: list[Entry], last: Step | None) -> None:
    """``pending`` (writes on a scratch cursor, asked reads on their own), then ``last`` on
    ``cursor`` (its result stays there to be fetched); more than one statement go in one
    pipeline, one round trip."""
    driver: Any = connection.connection.dbapi_connection
    writes = any(target is None for target, _ in pending) or (cursor is None and last is not None)
    scratch = driver.cursor() if writes else None
    steps: list[tuple[Any, Step]] = [
        (scratch if target is None else target, step) for target, step in pending
    ]
    if last is not None:
        steps.append((cursor if cursor is not None else scratch, last))
    dispatch = connection.dispatch
    listened = bool(dispatch.before_cursor_execute) or bool(dispatch.after_cursor_execute)
    begin = holds(connection) and _begins(driver)
    try:
        with driver.pipeline() if len(steps) > 1 or begin else contextlib.nullcontext() as pipe:
            if begin:
                _begin_in(driver, pipe)
            for target, (sql, params, many) in steps:
                if listened:
                    dispatch.before_cursor_execute(connection, target, sql, params, None, many)
                if many:
                    target.executemany(sql, params)
                elif params is None:
                    target.execute(sql)
                else:
                    target.execute(sql, params)
    except connection.dialect.loaded_dbapi.Error as exc:
        # SQLAlchemy's own handling of a driver error: its exception classes, handle_error,
        # and on a lost connection the pool renewed (a private method, the one every execute
        # goes through; tests/store/test_prepared.py holds it to what it does). Any other
        # error (a listener's) goes on as it is, as with SQLAlchemy's execute.
        sql = "; ".join(step[0] for _, step in steps)
        params = [step[1] for _, step in steps]
        connection._handle_dbapi_exception(exc, sql, params, None, None)
    finally:
        if scratch is not None:
            scratch.close()
    if listened:
        for target, (sql, params, many) in steps:
            dispatch.after_cursor_execute(connection, target, sql, params, None, many)


def _begins(driver: Any) -> bool:
    """Whether the driver will open a transaction before the next statement."""
    return (
        not driver.autocommit
        and driver.pgconn.transaction_status == _IDLE
        and hasattr(driver, "_get_tx_start_command")
        and hasattr(driver, "_exec_command")
    )


def _begin_in(driver: Any, pipe: Any) -> None:
    """Send the BEGIN of a new transaction in ``pipe``, with the statements after it.

    psycopg opens the transaction itself before a statement, and even in a pipeline waits
    for its answer: a round trip of its own for each transaction, about an eighth of a
    new ticket's. Here its own BEGIN (isolation level included) is queued in the pipeline
    and handed to libpq, which then reports a transaction under way, so psycopg sends no
    second one. These are psycopg's internals (3.2, 3.3); where they are missing it opens
    the transaction as it always does, and ``tests/gateway/test_accept_transaction.py``
    counts the trips on the wire."""
    communicate = getattr(pipe, "_communicate_gen", None)
    if communicate is None:
        return
    driver.wait(driver._exec_command(driver._get_tx_start_command()))
    driver.wait(communicate())
