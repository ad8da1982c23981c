"""Rows written with one Core statement instead of the ORM's unit of work.

Taking in a new message writes about ten rows. As ORM objects each costs a flush, about
0.2 ms of bookkeeping on SQLite (several times the INSERT itself), and the ORM's queries
cost twice a prebuilt Core one; together they were most of the CPU time of a new ticket
(``benchmarks/profile_ingest.py``). The ingest path therefore writes its rows here:

- ``insert_persistent`` writes an ORM object's row with a prebuilt INSERT ... RETURNING id
  and hands the object to the session as already persistent (``make_transient_to_detached``),
  so later reads and changes in the transaction use it as if the ORM had loaded it;
- ``insert_rows`` writes rows nobody reads back as objects (participants, attachments);
- ``update_persistent`` sets columns of a persistent object with one UPDATE by id.

The object must be transient; its foreign keys are set as ids (a relationship set on it is
not written) and the rows they name must already be in the database (flush first if they
were only added to the session). Column defaults are applied to the object as the ORM would,
also for a column explicitly set to None. ``update_persistent`` applies no ``onupdate``.
A savepoint or transaction that rolls back takes the objects inserted in it out of the
session and expires those updated in it, as the ORM does with its own new and changed
objects, so nothing hands out a row that no longer exists or a value that was undone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from sqlalchemy import Insert, Table, Update, bindparam, event, insert, inspect, update
from sqlalchemy.orm import Session, SessionTransaction, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

T = TypeVar("T")

_INFO = "postdesk.direct.written"  # transaction -> [(object, inserted?)] written in it
_RETURNING: dict[Table, Insert] = {}
_PLAIN: dict[Table, Insert] = {}
_UPDATES: dict[tuple[Table, tuple[str, ...]], Update] = {}


def _returning(table: Table) -> Insert:
    stmt = _RETURNING.get(table)
    if stmt is None:
        stmt = _RETURNING[table] = insert(table).returning(table.c.id)
    return stmt


def _plain(table: Table) -> Insert:
    stmt = _PLAIN.get(table)
    if stmt is None:
        stmt = _PLAIN[table] = insert(table)
    return stmt


def column_values(obj: object) -> dict[str, Any]:
    """Every column's value for a new row of ``obj``, setting unset columns to their default
    on the object too (so none is left expired, to be fetched again). Models written here
    have an integer primary key ``id``."""
    mapper = inspect(type(obj))
    given = obj.__dict__
    values: dict[str, Any] = {}
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        key = prop.key
        # An explicit None counts as unset: the ORM leaves it out of its INSERT too, so the
        # column's default applies.
        value = given.get(key)
        if value is not None:
            pass
        elif column.primary_key or (column.default is None and column.server_default is not None):
            given.pop(key, None)  # unloaded, so fetched when read (as after a flush)
            continue  # the database fills it in
        else:
            default = column.default
            if default is None:
                value = None
            elif default.is_callable:
                value = default.arg(None)  # type: ignore[attr-defined]
            else:
                value = default.arg  # type: ignore[attr-defined]
            setattr(obj, key, value)
        values[column.key] = value
    return values


def insert_persistent(session: Session, obj: T) -> T:
    """Write ``obj``'s row now and make ``obj`` a persistent object of ``session``."""
    table = inspect(type(obj)).local_table
    values = column_values(obj)
    new_id = session.connection().execute(_returning(table), values).scalar_one()  # type: ignore[arg-type]
    obj.id = new_id  # type: ignore[attr-defined]
    make_transient_to_detached(obj)
    session.add(obj)
    _written(session, obj, inserted=True)
    return obj


def _written(session: Session, obj: object, *, inserted: bool) -> None:
    boundary = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_INFO, {}).setdefault(boundary, []).append((obj, inserted))


def update_persistent(session: Session, obj: object, **values: Any) -> None:
    """Set columns of a persistent ``obj`` with one UPDATE by id, now; the object shows the
    new values without keeping them as changes to flush again."""
    mapper = inspect(type(obj))
    table = mapper.local_table
    stmt = _UPDATES.get((table, tuple(values)))
    if stmt is None:
        stmt = (
            update(table)
            .where(table.c.id == bindparam("_id"))
            .values({key: bindparam(key) for key in values})
        )
        _UPDATES[(table, tuple(values))] = stmt
    session.connection().execute(stmt, {"_id": obj.id, **values})  # type: ignore[attr-defined]
    for key, value in values.items():
        set_committed_value(obj, key, value)
    _written(session, obj, inserted=False)


def insert_rows(session: Session, model: type, rows: Iterable[Mapping[str, Any]]) -> None:
    """Write plain rows of ``model``'s table (one executemany; columns left out take their
    Python-side defaults)."""
    batch = list(rows)
    if batch:
        session.connection().execute(_plain(inspect(model).local_table), batch)


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
