"""Hot Core statements compiled once and run on the driver's cursor of the session's transaction.

SQLAlchemy's ``Connection.execute`` of an already compiled statement costs about 45 µs on
SQLite (an INSERT takes 12 µs on the cursor itself) and about 100 µs more than the cursor
on PostgreSQL: an execution context, parameter processing, a result object, events. Taking
in one message runs about twenty statements, so that overhead was a fifth of the ingest
path's CPU time (``benchmarks/profile_ingest.py``). A ``Prepared`` statement keeps what
the compiler produced for each dialect — the SQL text, the parameter order and the type
processors (``UTCDateTime``, JSON, booleans) — and runs it on one cursor per transaction.

What is kept from SQLAlchemy: the transaction (the cursor belongs to ``session.connection()``,
so SQLite's ``BEGIN IMMEDIATE`` and the writer lock still apply), the exception classes
(``IntegrityError``, ``OperationalError``, ...), invalidation of a connection that went
away, and the ``before_cursor_execute`` / ``after_cursor_execute`` events when someone
listens (tests count statements with them). What is not: ORM autoflush (as with any Core
statement on ``session.connection()``), expanding IN parameters, and SQL echo.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import event
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any]
_CURSOR = "postdesk.prepared.cursor"  # session.info: (transaction, connection, cursor)
_PENDING = "postdesk.prepared.pending"  # connection.info: [(plan, rows)] not yet sent


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    order: tuple[str, ...] | None  # positional drivers (SQLite): parameter names in order
    binds: tuple[tuple[str, Processor], ...]
    fixed: Mapping[str, Any]  # values written into the statement (``direction == "in"``)
    defaults: tuple[tuple[str, Callable[[], Any]], ...]  # column defaults, when not given
    results: tuple[Processor | None, ...]  # one per result column
    converts_results: bool


class Prepared:
    """A Core statement (``insert``, ``update``, ``select``) ready to run many times.

    ``keys``: for INSERT and UPDATE, the columns the parameters name (as ``column_keys`` of
    the compiler); a SELECT takes its ``bindparam`` names."""

    __slots__ = ("_keys", "_plans", "statement")

    def __init__(self, statement: ClauseElement, keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self._keys = list(keys) if keys is not None else None
        self._plans: dict[str, _Plan] = {}

    def plan(self, dialect: Dialect) -> _Plan:
        found = self._plans.get(dialect.name)
        if found is None:
            found = self._plans[dialect.name] = self._compile(dialect)
        return found

    def _compile(self, dialect: Dialect) -> _Plan:
        compiled = cast(
            SQLCompiler, self.statement.compile(dialect=dialect, column_keys=self._keys)
        )
        sql = compiled.string
        if "__[POSTCOMPILE" in sql:
            raise ValueError("expanding parameters are not supported by Prepared")
        positional = compiled.positiontup
        columns = getattr(self.statement, "selected_columns", None)
        if columns is None:
            columns = getattr(self.statement, "exported_columns", None) or ()
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
        results = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        )
        return _Plan(
            sql=sql,
            order=tuple(positional) if positional is not None else None,
            binds=tuple(binds),
            fixed=fixed,
            defaults=defaults,
            results=results,
            converts_results=any(p is not None for p in results),
        )

    # -- running ---------------------------------------------------------------------------

    def execute(self, session: Session, params: Mapping[str, Any]) -> Any:
        """Run once; returns the driver's cursor (fetch from it before the next statement)."""
        return self._execute(session, params)[1]

    def execute_many(self, session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        connection, cursor = _cursor_of(session)
        plan = self.plan(connection.dialect)
        _run(connection, cursor, plan, [_driver_params(plan, r) for r in rows], many=True)

    def later(self, session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
        """``execute_many`` for a write whose outcome nobody waits for. On PostgreSQL it is
        sent with the next statement of the transaction (or its COMMIT), in one round trip
        with every other such write before it (psycopg's pipeline mode); elsewhere, now.
        An error in it surfaces with that next statement, and the transaction fails."""
        if not rows:
            return
        connection, cursor = _cursor_of(session)
        plan = self.plan(connection.dialect)
        batch = [_driver_params(plan, r) for r in rows]
        if connection.dialect.name != "postgresql":
            _run(connection, cursor, plan, batch, many=True)
            return
        connection.info.setdefault(_PENDING, []).append((plan, batch))

    def scalar(self, session: Session, params: Mapping[str, Any]) -> Any:
        """The first column of the first row, or None."""
        row = self.first(session, params)
        return row[0] if row is not None else None

    def first(self, session: Session, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        plan, cursor = self._execute(session, params)
        rows = cursor.fetchall()  # all of them: nothing is left open on the cursor
        return _convert(rows[0], plan) if rows else None

    def all(self, session: Session, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        plan, cursor = self._execute(session, params)
        return [_convert(row, plan) for row in cursor.fetchall()]

    def _execute(self, session: Session, params: Mapping[str, Any]) -> tuple[_Plan, Any]:
        connection, cursor = _cursor_of(session)
        plan = self.plan(connection.dialect)
        _run(connection, cursor, plan, _driver_params(plan, params), many=False)
        return plan, cursor


def _convert(row: Sequence[Any], plan: _Plan) -> tuple[Any, ...]:
    if not plan.converts_results:
        return tuple(row)
    pairs = zip(row, plan.results, strict=True)
    return tuple(value if proc is None else proc(value) for value, proc in pairs)


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
    if plan.order is not None:
        return tuple(params[key] for key in plan.order)
    return params


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


def _run(connection: Connection, cursor: Any, plan: _Plan, params: Any, *, many: bool) -> None:
    """Run one statement; the writes still waiting (``later``) go first, in the same trip."""
    pending = connection.info.pop(_PENDING, None)
    _send(connection, cursor, pending or [], (plan, params, many))


def send_pending(connection: Connection) -> None:
    """Send the writes still waiting (``later``), now: before a statement SQLAlchemy runs,
    and before COMMIT (``db.make_engine`` registers this for PostgreSQL engines)."""
    pending = None if connection.invalidated else connection.info.pop(_PENDING, None)
    if pending:
        _send(connection, None, pending, None)


def commit_pending(connection: Connection) -> None:
    """Before COMMIT: send the writes still waiting and the COMMIT in one round trip (the
    driver's own commit that follows finds nothing left to commit)."""
    pending = None if connection.invalidated else connection.info.pop(_PENDING, None)
    if pending:
        _send(connection, None, pending, None, commit=True)


def drop_pending(connection: Connection) -> None:
    """Forget the writes still waiting: their transaction rolled back."""
    if not connection.invalidated:  # else they went with the connection's own info
        connection.info.pop(_PENDING, None)


def _send(
    connection: Connection,
    cursor: Any,
    writes: list[tuple[_Plan, list[Any]]],
    last: tuple[_Plan, Any, bool] | None,
    *,
    commit: bool = False,
) -> None:
    """``writes``, then ``last`` on ``cursor`` (so that its result can be fetched there), then
    with ``commit`` the COMMIT. Several go in one pipeline, one round trip."""
    driver: Any = connection.connection.dbapi_connection
    scratch = driver.cursor() if writes or commit else None
    steps: list[tuple[Any, _Plan, Any, bool]] = [
        (scratch, plan, rows, True) for plan, rows in writes
    ]
    if last is not None:
        steps.append((cursor, *last))
    listened = _listened(connection)
    together = len(steps) > 1 or commit
    try:
        with driver.pipeline() if together else contextlib.nullcontext():
            for target, plan, params, many in steps:
                if listened:
                    connection.dispatch.before_cursor_execute(
                        connection, target, plan.sql, params, None, many
                    )
                if many:
                    target.executemany(plan.sql, params)
                else:
                    target.execute(plan.sql, params)
            if commit:
                scratch.execute("COMMIT")  # type: ignore[union-attr]  # the driver sees IDLE after
    except Exception as exc:
        sql = "; ".join(step[1].sql for step in steps)
        _raise_wrapped(connection, steps[-1][0], sql, [step[2] for step in steps], exc)
    finally:
        if scratch is not None:
            scratch.close()
    if listened:
        for target, plan, params, many in steps:
            connection.dispatch.after_cursor_execute(
                connection, target, plan.sql, params, None, many
            )


def _listened(connection: Connection) -> bool:
    dispatch = connection.dispatch
    return bool(dispatch.before_cursor_execute) or bool(dispatch.after_cursor_execute)


def _raise_wrapped(
    connection: Connection, cursor: Any, sql: str, params: Any, exc: Exception
) -> None:
    """Raise what SQLAlchemy would: its exception class for a driver error, and a connection
    that went away invalidated, so the pool does not hand it out again."""
    dialect = connection.dialect
    dbapi = dialect.loaded_dbapi
    if not isinstance(exc, dbapi.Error):
        raise exc
    gone = dialect.is_disconnect(exc, connection.connection.dbapi_connection, cursor)
    if gone and not connection.invalidated:
        connection.invalidate(exc)
    raise DBAPIError.instance(
        sql, params, exc, dbapi.Error, dialect=dialect, connection_invalidated=gone
    ) from exc


@event.listens_for(Session, "after_transaction_end")
def _forget_cursor(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return  # a savepoint or a flush: the same connection goes on
    held = session.info.pop(_CURSOR, None)
    if held is not None:
        with contextlib.suppress(Exception):  # the connection may be gone: nothing to release
            held[2].close()
