"""Alembic environment: the connection is handed in by ``postdesk.store.migrate``."""

from alembic import context

import postdesk.store.schema  # noqa: F401 - registers every table on Base.metadata
from postdesk.store.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
