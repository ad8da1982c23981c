"""The migrations and the models describe the same schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from postdesk.store import mailbox_models, rules_models, suppression_models  # noqa: F401
from postdesk.store.db import Database
from postdesk.store.migrate import alembic_config, current
from postdesk.store.models import Base


def test_head_matches_the_models(database_url: str) -> None:
    """A model change without a migration (or the reverse) fails here."""
    db = Database(database_url)  # migrated to head by the fixture
    try:
        heads = ScriptDirectory.from_config(alembic_config()).get_heads()
        assert len(heads) == 1, f"the migrations have several heads: {heads}"
        assert current(db) == heads[0]
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
    finally:
        db.dispose()
