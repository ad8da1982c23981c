"""Real databases for tests: a migrated SQLite file per test, and one PostgreSQL database
per session (created fresh, migrated once, emptied between tests)."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from postdesk.store import migrate
from postdesk.store.db import Database
from postdesk.store.schema import metadata

PG_ADMIN_URL = os.environ.get("POSTDESK_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def pg_required() -> bool:
    """In CI a missing PostgreSQL is a failure, never a skip."""
    return bool(os.environ.get("CI") or os.environ.get("POSTDESK_REQUIRE_PG"))


def migrated_sqlite_template(directory: Path) -> Path:
    path = directory / "template.sqlite3"
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    db.dispose()
    return path


def sqlite_copy(template: Path, target_dir: Path) -> str:
    target = target_dir / "postdesk.sqlite3"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


class PostgresServer:
    """A throwaway database on the local server: created at start, dropped at the end."""

    def __init__(self) -> None:
        self.name = f"postdesk_test_{uuid.uuid4().hex[:10]}"
        base, _, _ = PG_ADMIN_URL.rpartition("/")
        self.url = f"{base}/{self.name}"
        self._admin = Database(PG_ADMIN_URL)

    def create(self) -> None:
        with self._admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        db = Database(self.url)
        migrate.upgrade(db)
        db.dispose()

    def truncate(self) -> None:
        db = Database(self.url)
        names = ", ".join(f'"{t.name}"' for t in reversed(metadata.sorted_tables))
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        db.dispose()

    def drop(self) -> None:
        with self._admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self._admin.dispose()


def start_postgres() -> PostgresServer | None:
    server = PostgresServer()
    try:
        server.create()
    except Exception as exc:
        if pg_required():
            pytest.fail(f"PostgreSQL is required here (CI) but unusable: {exc}")
        return None
    return server
