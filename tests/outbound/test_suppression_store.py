"""The suppression table: its migration, and the queries the outbox consults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from postdesk.outbound.suppression import suppress, suppressed
from postdesk.store.db import Database
from postdesk.store.migrate import alembic_config, current, upgrade
from postdesk.store.models import Base
from postdesk.store.suppression_models import Suppression

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_migration_0003_matches_the_model_and_downgrades(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    try:
        upgrade(db, "0003")
        assert current(db) == "0003"
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert [d for d in diff if "suppressions" in repr(d)] == []
        cfg = alembic_config()
        with db.engine.connect() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0002")
            conn.commit()
        assert "suppressions" not in inspect(db.engine).get_table_names()
    finally:
        db.dispose()


def test_suppression_expires_and_a_later_bounce_only_extends_it(app) -> None:  # type: ignore[no-untyped-def]
    with app.db.transaction() as s:
        suppress(s, "Ana@Client.example", "5.1.1", NOW + timedelta(days=7), NOW)
    with app.db.transaction() as s:
        suppress(s, "ana@client.example", "5.2.2", NOW + timedelta(days=1), NOW)
    with app.db.sessions() as s:
        row = s.query(Suppression).one()
        assert (row.reason, row.until) == ("5.2.2", NOW + timedelta(days=7))
        assert suppressed(s, ["ANA@client.example", "bob@x"], NOW) == {
            "ana@client.example": "suppressed: 5.2.2"
        }
        assert suppressed(s, ["ana@client.example"], NOW + timedelta(days=8)) == {}
