"""Hot Core statements compiled once and run on the driver's cursor of the session's transaction.

SQLAlchemy's ``Connection.execute`` of an already compiled statement costs about 45 µs on
SQLite (an INSERT takes 12 µs on the cursor itself) and about 100 µs more than the cursor
on PostgreSQL: an execution context, parameter processing, a result object, events. Taking
in one message runs about twenty statements, so that overhead was a fifth of the ingest
path's CPU time (``benchmarks/profile_ingest.py``). A ``Prepared`` statement keeps what
the compiler produced for each dialect — the SQL text, the parameter order and the type
processors (``UTCDateTime``, JSON, booleans) — and runs it on one cursor per transaction.

What is kept from SQLAlchemy: the transaction (the cursor belongs to ``session.connection()``,
so SQLite's ``BEGIN IMMEDIATE`` and the writer lock still apply), Python-side column
defaults, its error handling (its exception classes, ``handle_error`` events, and on a lost
connection the whole pool renewed), and the ``before_cursor_execute`` /
``after_cursor_execute`` events when someone listens (tests count statements with them).
What is not: ORM autoflush (as with any Core statement on ``session.connection()``),
expanding IN parameters, and SQL echo. Writes nobody waits for may be held back to share a
round trip on PostgreSQL (``later``; ``store.held_writes``), and reads known in advance sent
ahead with them (``ask``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import event
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from postdesk.store import held_writes

Processor = Callable[[Any], Any]
_CURSOR = "postdesk.prepared.cursor"  # session.info: (transaction, connection, cursor)
_ANSWERS = "postdesk.prepared.answers"  # session.info: {(statement, params): (connection, cursor)}


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    order: tuple[str, ...] | None  # positional drivers (SQLite): parameter names in order
    binds: tuple[tuple[str, Processor], ...]
    fixed: Mapping[str, Any]  # values written into the statement (``direction == "in"``)
    defaults: tuple[tuple[str, Callable[[], Any]], ...]  # column defaults, when not given
    result_types: tuple[Any, ...]  # the dialect's type of each result column


class Prepared:
    """A Core statement (``insert``, ``update``, ``select``) ready to run many times.

    ``keys``: for INSERT and UPDATE, the columns the parameters name (as ``column_keys`` of
    the compiler); a SELECT takes its ``bindparam`` names."""

    __slots__ = ("_keys", "_plans", "_results", "statement")

    def __init__(self, statement: ClauseElement, keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self._keys = list(keys) if keys is not None else None
        self._plans: dict[str, _Plan] = {}
        # Result processors per dialect, made at the first result: some need the column's
        # type code from the driver (a NUMERIC on PostgreSQL), as SQLAlchemy's results do.
        self._results: dict[str, tuple[Processor | None, ...]] = {}

    def plan(self, dialect: Dialect) -> _Plan:
        found = self._plans.get(dialect.name)
        if found is None:
            found = self._plans[dialect.name] = _compile(self.statement, self._keys, dialect)
        return found

    # -- running ---------------------------------------------------------------------------

    def execute(self, session: Session, params: Mapping[str, Any]) -> Any:
        """Run once; returns the driver's cursor (fetch from it before the next statement)."""
        return self._execute(session, params)[1]

    def execute_many(self, session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        connection, cursor = _cursor_of(session)
        plan = self.plan(connection.dialect)
        batch = [_driver_params(plan, r) for r in rows]
        held_writes.run(connection, cursor, (plan.sql, batch, True))

    def later(self, session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
        """``execute_many`` for a write whose outcome nobody waits for: on PostgreSQL it goes
        with the transaction's next statement (or its COMMIT) in one round trip. Inside a
        savepoint it runs now, so that the savepoint's fate is its own."""
        if not rows:
            return
        connection, cursor = _cursor_of(session)
        plan = self.plan(connection.dialect)
        batch = [_driver_params(plan, r) for r in rows]
        if session.get_nested_transaction() is not None or not held_writes.holds(connection):
            held_writes.run(connection, cursor, (plan.sql, batch, True))
        else:
            held_writes.hold(connection, plan.sql, batch)

    def ask(self, session: Session, params: Mapping[str, Any]) -> None:
        """Send this read ahead with the next statement (PostgreSQL; elsewhere nothing): a
        later ``all``/``first``/``scalar`` with the same parameters takes its answer instead
        of a round trip of its own. Only for reads that nothing written in between changes;
        the answer is forgotten at a flush, a rollback, and ``forget_answers``."""
        connection, _ = _cursor_of(session)
        if not held_writes.holds(connection):
            return
        key = _answer_key(self, params)
        if key is None:
            return
        answers: dict[Any, tuple[Connection, Any]] = session.info.setdefault(_ANSWERS, {})
        earlier = answers.pop(key, None)
        if earlier is not None:  # asked again: the newer question sees more
            _drop(*earlier)
        plan = self.plan(connection.dialect)
        cursor = held_writes.ask(connection, plan.sql, _driver_params(plan, params))
        answers[key] = (connection, cursor)

    def scalar(self, session: Session, params: Mapping[str, Any]) -> Any:
        """The first column of the first row, or None."""
        row = self.first(session, params)
        return row[0] if row is not None else None

    def first(self, session: Session, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        rows = self.all(session, params)  # all of them: nothing is left open on the cursor
        return rows[0] if rows else None

    def all(self, session: Session, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        rows = self.taken(session, params)
        if rows is None:
            connection, cursor = self._execute(session, params)
            rows = self._processed(connection.dialect, cursor)
        return rows

    def taken(self, session: Session, params: Mapping[str, Any]) -> list[tuple[Any, ...]] | None:
        """The rows of this statement asked ahead (``ask``) with these parameters, or None
        when there is no such answer (not asked, forgotten, or lost with a failed pipeline).
        Never runs the statement itself: sends it only if it was asked and has not gone yet."""
        answer = _take_answer(session, self, params)
        if answer is None:
            return None
        connection, asked = answer
        try:
            held_writes.answer(connection, asked)  # when it has not gone yet, it goes now
            return self._processed(connection.dialect, asked)
        except connection.dialect.loaded_dbapi.Error:
            # No answer: the pipeline that carried it failed (and someone caught that). The
            # caller runs the statement again, which raises what the transaction's state is.
            return None
        finally:
            asked.close()

    def _processed(self, dialect: Dialect, cursor: Any) -> list[tuple[Any, ...]]:
        rows = cursor.fetchall()
        processors = self._processors(dialect, cursor)
        if not any(p is not None for p in processors):
            return [tuple(row) for row in rows]
        return [
            tuple(v if p is None else p(v) for v, p in zip(row, processors, strict=True))
            for row in rows
        ]

    def _execute(self, session: Session, params: Mapping[str, Any]) -> tuple[Connection, Any]:
        connection, cursor = _cursor_of(session)
        plan = self.plan(connection.dialect)
        held_writes.run(connection, cursor, (plan.sql, _driver_params(plan, params), False))
        return connection, cursor

    def _processors(self, dialect: Dialect, cursor: Any) -> tuple[Processor | None, ...]:
        found = self._results.get(dialect.name)
        if found is None:
            types = self.plan(dialect).result_types
            codes = [d[1] for d in cursor.description or ()] or [None] * len(types)
            found = self._results[dialect.name] = tuple(
                t.result_processor(dialect, code) for t, code in zip(types, codes, strict=True)
            )
        return found


def _compile(statement: ClauseElement, keys: list[str] | None, dialect: Dialect) -> _Plan:
    compiled = cast(SQLCompiler, statement.compile(dialect=dialect, column_keys=keys))
    sql = compiled.string
    if "__[POSTCOMPILE" in sql:
        raise ValueError("expanding parameters are not supported by Prepared")
    columns = getattr(statement, "selected_columns", None)
    if columns is None:
        columns = getattr(statement, "exported_columns", None) or ()
    # Columns left out of an INSERT (or an UPDATE's SET) whose Python-side default (or
    # onupdate) SQLAlchemy computes before executing: computed here the same way.
    defaults = tuple(
        (column.key, _maker(column.default))
        for column in compiled.insert_prefetch
        if column.default is not None
    ) + tuple(
        (column.key, _maker(column.onupdate))
        for column in compiled.update_prefetch
        if column.onupdate is not None
    )
    computed = {key for key, _ in defaults}
    binds = []
    fixed = {}
    for key, bind in compiled.binds.items():
        if key not in computed and not bind.required and not bind.callable:
            fixed[key] = bind.effective_value
        processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            binds.append((key, processor))
    return _Plan(
        sql=sql,
        order=tuple(compiled.positiontup) if compiled.positiontup is not None else None,
        binds=tuple(binds),
        fixed=fixed,
        defaults=defaults,
        result_types=tuple(column.type.dialect_impl(dialect) for column in columns),
    )


def _maker(default: Any) -> Callable[[], Any]:
    """A column default as a function of nothing (SQLAlchemy wraps a callable default to
    take an execution context; none of ours reads it)."""
    arg = default.arg
    if default.is_callable:
        return lambda: arg(None)
    return lambda: arg


def _driver_params(plan: _Plan, params: Mapping[str, Any]) -> Any:
    if plan.fixed:
        params = {**plan.fixed, **params}
    missing = [(key, make) for key, make in plan.defaults if key not in params]
    if missing:
        params = {**params, **{key: make() for key, make in missing}}
    if plan.binds:
        params = dict(params)
        for key, proc in plan.binds:
            if key in params:
                params[key] = proc(params[key])
    if plan.order is None:
        return params
    try:
        return tuple(params[key] for key in plan.order)
    except KeyError as exc:  # as SQLAlchemy says it
        raise StatementError(
            f"A value is required for bind parameter {exc.args[0]!r}", plan.sql, params, None
        ) from None


def _cursor_of(session: Session) -> tuple[Connection, Any]:
    """The transaction's connection and a cursor of its driver connection (one per
    transaction). ``session.connection()`` is asked again whenever the innermost transaction
    changed: it begins the transaction (SQLite: ``BEGIN IMMEDIATE``) and a savepoint's
    SAVEPOINT, which the session emits only when the savepoint's connection is asked for."""
    current = session.get_nested_transaction() or session.get_transaction()
    held = session.info.get(_CURSOR)
    if held is not None and current is not None and held[0] is current:
        return held[1], held[2]
    connection = session.connection()
    cursor = held[2] if held is not None and held[1] is connection else None
    if cursor is None:
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    current = session.get_nested_transaction() or session.get_transaction()
    session.info[_CURSOR] = (current, connection, cursor)
    return connection, cursor


def _answer_key(prepared: Prepared, params: Mapping[str, Any]) -> Any:
    try:
        key = (prepared, frozenset(params.items()))
        hash(key)
    except TypeError:  # an unhashable value: not asked ahead
        return None
    return key


def _take_answer(
    session: Session, prepared: Prepared, params: Mapping[str, Any]
) -> tuple[Connection, Any] | None:
    answers = session.info.get(_ANSWERS)
    if not answers:
        return None
    key = _answer_key(prepared, params)
    return answers.pop(key, None) if key is not None else None


def forget_answers(session: Session) -> None:
    """Forget the reads asked ahead that nobody took (those not sent yet are withdrawn)."""
    answers: dict[Any, tuple[Connection, Any]] | None = session.info.pop(_ANSWERS, None)
    for connection, cursor in (answers or {}).values():
        _drop(connection, cursor)


def _drop(connection: Connection, cursor: Any) -> None:
    # A connection already closed (the transaction ended) or invalidated holds nothing.
    if not connection.closed and not connection.invalidated:
        held_writes.withdraw(connection, [cursor])
    with contextlib.suppress(Exception):  # the driver connection may be gone
        cursor.close()


@event.listens_for(Session, "before_commit")
def _forget_before_commit(session: Session) -> None:
    # Not sent with the COMMIT for nobody. Releasing a savepoint (this event too) keeps them:
    # what it wrote stays written, as if there had been no savepoint.
    if not session.in_nested_transaction():
        forget_answers(session)


@event.listens_for(Session, "after_flush")
def _forget_after_flush(session: Session, _context: Any) -> None:
    forget_answers(session)


@event.listens_for(Session, "after_soft_rollback")
def _forget_after_rollback(session: Session, _previous: Any) -> None:
    forget_answers(session)


@event.listens_for(Session, "after_transaction_end")
def _forget_cursor(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return  # a savepoint or a flush: the same connection goes on
    forget_answers(session)
    held = session.info.pop(_CURSOR, None)
    if held is not None:
        with contextlib.suppress(Exception):  # the connection may be gone: nothing to release
            held[2].close()
