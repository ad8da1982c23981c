"""Configuration documents: read, save (versioned and recorded), and a cache every process
keeps of them, re-checked every few seconds so an edit in the admin reaches all gateways."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from postdesk.store.config_models import ConfigDocument, ConfigRevision

log = logging.getLogger(__name__)
RULES = "rules"
TEMPLATE_PREFIX = "email/"
TTL_SECONDS = 3.0


def current_body(session: Session, name: str) -> str | None:
    """The stored text of ``name``; None when there is none (the file / built-in is used)."""
    doc = session.get(ConfigDocument, name)
    return doc.body if doc is not None else None


def save_document(session: Session, name: str, body: str | None, by: str, now: datetime) -> int:
    """Store ``body`` (None: back to the file / built-in) as the next version; returns it."""
    doc = session.get(ConfigDocument, name, with_for_update=True)
    if doc is None:
        doc = ConfigDocument(name=name, version=0)
        session.add(doc)
    doc.version += 1
    doc.body, doc.updated_at, doc.updated_by = body, now, by
    session.add(ConfigRevision(name=name, version=doc.version, body=body, at=now, by=by))
    session.flush()
    return doc.version


def revisions(session: Session, name: str, limit: int = 20) -> Sequence[ConfigRevision]:
    return session.scalars(
        select(ConfigRevision)
        .where(ConfigRevision.name == name)
        .order_by(ConfigRevision.id.desc())
        .limit(limit)
    ).all()


Stamp = tuple[tuple[str, int], ...]


def read_documents(engine: Engine) -> tuple[Stamp, dict[str, str]]:
    """Every stored document, read on a raw connection: no ``BEGIN IMMEDIATE``, so it may run
    while this thread holds SQLite's write lock in another session (the rules are asked for
    in the middle of the ingest transaction)."""
    conn = engine.raw_connection()
    try:
        cur = conn.cursor()
        cur.execute("SELECT name, version, body FROM config_documents ORDER BY name")
        rows = cur.fetchall()
        cur.close()
    finally:
        conn.close()  # back to the pool, which rolls back PostgreSQL's implicit transaction
    stamp = tuple((str(n), int(v)) for n, v, _ in rows)
    return stamp, {str(n): str(b) for n, _, b in rows if b is not None}


class DocumentCache:
    """The stored documents as of at most ``ttl`` seconds ago; ``invalidate`` after a save
    makes this process see it at once."""

    def __init__(
        self,
        engine: Engine,
        ttl: float = TTL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._ttl = ttl
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._checked = float("-inf")
        self._stamp: Stamp = ()
        self._docs: dict[str, str] = {}

    def current(self) -> tuple[Stamp, dict[str, str]]:
        with self._lock:
            now = self._monotonic()
            if now - self._checked >= self._ttl:
                self._checked = now
                try:
                    self._stamp, self._docs = read_documents(self._engine)
                except Exception:  # the database away for a moment: keep what we had
                    log.warning("could not read the configuration documents", exc_info=True)
            return self._stamp, self._docs

    def get(self, name: str) -> str | None:
        return self.current()[1].get(name)

    def version(self, prefix: str) -> Stamp:
        """The part of the stamp for names starting with ``prefix``: changes with them only."""
        return tuple(p for p in self.current()[0] if p[0].startswith(prefix))

    def invalidate(self) -> None:
        with self._lock:
            self._checked = float("-inf")
