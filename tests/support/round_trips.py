"""Round trips to PostgreSQL counted from the wire: libpq's protocol trace of every pooled
connection, one ``ReadyForQuery`` from the server per trip (a pipeline ends with one too)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


class Trips:
    def __init__(self) -> None:
        self.count = 0
        self.trace = ""


@contextmanager
def round_trips(engine: Engine) -> Iterator[Trips]:
    """Count the trips of connections checked out while the block runs."""
    trips = Trips()
    with tempfile.TemporaryFile() as trace:
        traced: dict[int, Any] = {}

        def _checkout(dbapi: Any, _record: Any, _proxy: Any) -> None:
            dbapi.pgconn.trace(trace.fileno())
            traced[id(dbapi)] = dbapi

        def _checkin(dbapi: Any, _record: Any) -> None:
            if traced.pop(id(dbapi), None) is not None:
                dbapi.pgconn.untrace()  # flushes libpq's buffer into the file

        event.listen(engine, "checkout", _checkout)
        event.listen(engine, "checkin", _checkin)
        try:
            yield trips
        finally:
            event.remove(engine, "checkout", _checkout)
            event.remove(engine, "checkin", _checkin)
            for dbapi in traced.values():  # still checked out: not traced into a closed file
                dbapi.pgconn.untrace()
        trace.seek(0)
        trips.trace = trace.read().decode(errors="replace")
    trips.count = sum(
        1 for line in trips.trace.splitlines() if "\tB\t" in line and "\tReadyForQuery" in line
    )
