"""Rows written with one Core statement instead of the ORM's unit of work.

Taking in a new message writes about ten rows. As ORM objects each costs a flush, about
0.2 ms of bookkeeping on SQLite (several times the INSERT itself), and the ORM's queries
cost twice a prebuilt Core one; together they were most of the CPU time of a new ticket
(``benchmarks/profile_ingest.py``). The ingest path therefore writes its rows here:

- ``insert_persistent`` writes an ORM object's row with a prebuilt INSERT ... RETURNING id
  and hands the object to the session as already persistent (``make_transient_to_detached``),
  so later reads and changes in the transaction use it as if the ORM had loaded it. Where an
  id was taken ahead (``ask_id``, PostgreSQL) the row gets that id and its INSERT is held to
  go with the next statement (``Prepared.later``): nobody waits for RETURNING;
- ``insert_rows`` writes rows nobody reads back as objects (participants, attachments);
- ``update_persistent`` sets columns of a persistent object with one UPDATE by id;
- ``loaded`` turns a row read with a plain statement into the session's object for it, and
  ``ObjectQuery`` reads such rows with a prepared SELECT.

The object must be transient; its foreign keys are set as ids (a relationship set on it is
not written) and the rows they name must already be in the database (flush first if they
were only added to the session). Column defaults are applied to the object as the ORM would,
also for a column explicitly set to None; ``update_persistent`` applies ``onupdate`` likewise.
A savepoint or transaction that rolls back takes the objects inserted in it out of the
session and expires those updated in it, as the ORM does with its own new and changed
objects, so nothing hands out a row that no longer exists or a value that was undone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import (
    Column,
    Table,
    bindparam,
    event,
    func,
    insert,
    inspect,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import ColumnProperty, Session, SessionTransaction, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from postdesk.store.prepared import Prepared

T = TypeVar("T")

_INFO = "postdesk.direct.written"  # transaction -> [(object, inserted?)] written in it
_GIVEN = "postdesk.direct.given_ids"  # table name -> an id taken with another row's INSERT
_UNSET = object()


@dataclass(frozen=True, slots=True)
class _Column:
    attr: str  # the mapped attribute's name
    key: str  # the table column's key (the statement's parameter name)
    db_fills: bool  # left out when unset: the primary key, or a server default
    default: Callable[[], Any] | None  # the Python-side default (None: NULL)


@cache
def _columns(model: type) -> tuple[_Column, ...]:
    """What ``column_values`` needs of each mapped column, worked out once per model."""
    out = []
    prop: ColumnProperty[Any]
    for prop in inspect(model).column_attrs:
        column: Column[Any] = prop.columns[0]  # type: ignore[assignment]
        default = column.default
        maker: Callable[[], Any] | None = None
        if default is not None and default.is_callable:
            arg = default.arg  # type: ignore[attr-defined]
            maker = lambda arg=arg: arg(None)  # noqa: E731  (SQLAlchemy's wrapper takes a context)
        elif default is not None:
            value = default.arg  # type: ignore[attr-defined]
            maker = lambda value=value: value  # noqa: E731
        db_fills = column.primary_key or (default is None and column.server_default is not None)
        out.append(_Column(prop.key, column.key, db_fills, maker))
    return tuple(out)


@cache
def _inserting(table: Table, keys: tuple[str, ...], returning: bool) -> Prepared:
    stmt = insert(table).returning(table.c.id) if returning else insert(table)
    return Prepared(stmt, keys)


def _next_value(table: Table) -> Any:
    """``nextval`` of the sequence behind ``table``'s id (PostgreSQL)."""
    return func.nextval(func.pg_get_serial_sequence(literal(table.name), literal("id")))


@cache
def _next_id(table: Table) -> Prepared:
    """The next value of the sequence behind ``table``'s id, read on its own."""
    return Prepared(select(_next_value(table)))


def _taken_id(session: Session, table: Table) -> Any:
    """The id taken ahead for ``table``'s next row (``ask_id``, ``insert_unless_conflict``),
    or None."""
    given = session.info.get(_GIVEN)
    if given and table.name in given:
        return given.pop(table.name)
    taken = _next_id(table).taken(session, {})
    return taken[0][0] if taken else None


def ask_id(session: Session, model: type) -> None:
    """On PostgreSQL, take the next id of ``model``'s table with the transaction's next trip
    (``Prepared.ask``), for the next ``insert_persistent`` of a ``model`` to use (elsewhere
    nothing). For rows whose id nobody shows: an id taken and not used is a gap in the
    sequence, as a rolled-back INSERT leaves one, and an id taken ahead may come before one
    that another transaction takes later but commits first."""
    _next_id(inspect(model).local_table).ask(session, {})


@cache
def _inserting_new(
    table: Table, keys: tuple[str, ...], dialect: str, also: Table | None = None
) -> Prepared:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id, in the dialect's own spelling; with
    ``also`` (PostgreSQL), it returns the next id of that table's sequence too, taken only
    when the row is written."""
    module = postgresql if dialect == "postgresql" else sqlite
    returned: list[Any] = [table.c.id]
    if also is not None:
        returned.append(_next_value(also))
    return Prepared(module.insert(table).on_conflict_do_nothing().returning(*returned), keys)


@cache
def _updating(table: Table, keys: tuple[str, ...]) -> Prepared:
    return Prepared(
        update(table)
        .where(table.c.id == bindparam("_id"))
        .values({key: bindparam(key) for key in keys})
    )


def column_values(obj: object) -> dict[str, Any]:
    """Every column's value for a new row of ``obj``, setting unset columns to their default
    on the object too (so none is left expired, to be fetched again). Models written here
    have an integer primary key ``id``."""
    given = obj.__dict__
    values: dict[str, Any] = {}
    for column in _columns(cast(type, type(obj))):
        # An explicit None counts as unset: the ORM leaves it out of its INSERT too, so the
        # column's default applies.
        value = given.get(column.attr)
        if value is None:
            if column.db_fills:
                given.pop(column.attr, None)  # unloaded, so fetched when read (as after a flush)
                continue  # the database fills it in
            value = column.default() if column.default is not None else None
            setattr(obj, column.attr, value)
        values[column.key] = value
    return values


def insert_persistent(session: Session, obj: T) -> T:
    """Write ``obj``'s row (now, or with the next statement when its id was taken ahead) and
    make ``obj`` a persistent object of ``session``."""
    written = _insert(session, obj, unless_conflict=False)
    assert written is not None
    return written


def insert_unless_conflict(session: Session, obj: T, *, also: type | None = None) -> T | None:
    """``insert_persistent``, unless the row would break a unique constraint: then nothing is
    written (the caller looks for the row that holds the key) and None is returned.
    ``also``: on PostgreSQL, the same INSERT takes the next id of ``also``'s table when it
    writes the row, for the next ``insert_persistent`` of an ``also`` (a row that is not
    written takes none: no gap for an id that people see)."""
    return _insert(session, obj, unless_conflict=True, also=also)


def _insert(
    session: Session, obj: T, *, unless_conflict: bool, also: type | None = None
) -> T | None:
    table = inspect(type(obj)).local_table
    values = column_values(obj)
    keys = tuple(values)
    taken = None if unless_conflict or "id" in values else _taken_id(session, table)
    if taken is not None:
        new_id = values["id"] = taken
        _inserting(table, (*keys, "id"), False).later(session, [values])
    elif unless_conflict:
        dialect = session.get_bind().dialect.name
        other = inspect(also).local_table if also and dialect == "postgresql" else None
        row = _inserting_new(table, keys, dialect, other).first(session, values)
        new_id = row[0] if row is not None else None
        if row is not None and other is not None:
            session.info.setdefault(_GIVEN, {})[other.name] = row[1]
    else:
        new_id = _inserting(table, keys, True).scalar(session, values)
    if new_id is None:
        return None  # the conflict: nothing written
    obj.id = new_id  # type: ignore[attr-defined]
    make_transient_to_detached(obj)
    session.add(obj)
    _written(session, obj, inserted=True)
    return obj


class ObjectQuery(Generic[T]):
    """A prepared SELECT of every column of ``model``'s table whose rows come back as the
    session's objects (``loaded``), without the ORM's query machinery."""

    def __init__(self, model: type[T], *where: Any, order_by: Sequence[Any] = ()) -> None:
        self.model = model
        columns = tuple(inspect(model).local_table.columns)
        self.keys = tuple(c.key for c in columns)
        self.prepared = Prepared(select(*columns).where(*where).order_by(*order_by))

    def all(self, session: Session, params: Mapping[str, Any]) -> list[T]:
        rows = self.prepared.all(session, params)
        return [loaded(session, self.model, dict(zip(self.keys, r, strict=True))) for r in rows]

    def first(self, session: Session, params: Mapping[str, Any]) -> T | None:
        row = self.prepared.first(session, params)
        return loaded(session, self.model, dict(zip(self.keys, row, strict=True))) if row else None


def loaded(session: Session, model: type[T], row: Mapping[str, Any]) -> T:
    """The persistent object of a row read with a plain statement (every column, keyed by
    attribute): the one the session already holds, else a new one that counts as loaded (as
    if an ORM query had returned it: nothing to flush, its relationships load when used)."""
    key = tuple(row[column.key] for column in inspect(model).primary_key)
    held = session.identity_map.get(session.identity_key(model, key))
    if held is not None:
        return held  # type: ignore[no-any-return]
    obj = model(**row)
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


def _written(session: Session, obj: object, *, inserted: bool) -> None:
    boundary = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_INFO, {}).setdefault(boundary, []).append((obj, inserted))


def update_persistent(session: Session, obj: object, **values: Any) -> None:
    """Set columns of a persistent ``obj`` with one UPDATE by id (sent with the next statement
    on PostgreSQL, ``Prepared.later``); the object shows the new values without keeping them
    as changes to flush again. Columns with an ``onupdate`` not given take it, on the object
    too, as the ORM's own UPDATE would."""
    table = inspect(type(obj)).local_table
    for column in table.columns:
        if column.onupdate is not None and column.key not in values:
            arg = column.onupdate.arg  # type: ignore[attr-defined]
            values[column.key] = arg(None) if column.onupdate.is_callable else arg
    _updating(table, tuple(values)).later(session, [{"_id": obj.id, **values}])  # type: ignore[attr-defined]
    for key, value in values.items():
        set_committed_value(obj, key, value)
    _written(session, obj, inserted=False)


def insert_rows(session: Session, model: type, rows: Iterable[Mapping[str, Any]]) -> None:
    """Write plain rows of ``model``'s table (one executemany; columns left out take their
    Python-side defaults). The rows must name the same columns."""
    batch = list(rows)
    if not batch:
        return
    given = tuple(batch[0])
    fill = [c for c in _columns(model) if c.key not in given and not c.db_fills]
    if fill:
        batch = [
            {**row, **{c.key: c.default() if c.default else None for c in fill}} for row in batch
        ]
    keys = given + tuple(c.key for c in fill)
    _inserting(inspect(model).local_table, keys, False).later(session, batch)


def flush_pending(session: Session, *models: type) -> None:
    """Flush first if the session holds unwritten changes to ``models``: a plain Core read
    (``session.connection()``) does not autoflush as an ORM query does."""
    pending = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(obj, models) for obj in pending):
        session.flush()


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    written: dict[SessionTransaction, list[tuple[object, bool]]] | None = session.info.get(_INFO)
    if not written:
        return
    nested = session.get_nested_transaction()  # still the savepoint being released, if any
    if nested is None:
        written.clear()  # the outermost transaction committed: its rows are in for good
        return
    objs = written.pop(nested, None)
    if objs and nested.parent is not None:
        # A released savepoint's rows belong to the enclosing one, which may still roll back.
        written.setdefault(_savepoint_or_root(nested.parent), []).extend(objs)


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_GIVEN, None)  # ids taken and not used stay with their transaction
    written: dict[SessionTransaction, list[tuple[object, bool]]] | None = session.info.get(_INFO)
    if not written or transaction not in written:
        return
    # Ended without a commit (``_committed`` moves or clears what commits): rolled back.
    for obj, inserted in written.pop(transaction):
        if obj not in session:
            continue
        if inserted:
            session.expunge(obj)
        else:
            session.expire(obj)  # its row is as before the UPDATE: read it again when used


def _savepoint_or_root(transaction: SessionTransaction) -> SessionTransaction:
    """The innermost savepoint enclosing ``transaction``, else the outermost transaction."""
    current: SessionTransaction | None = transaction
    while current is not None:
        if current.nested or current.parent is None:
            return current
        current = current.parent
    return transaction
