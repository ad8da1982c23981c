"""Alembic environment: the connection is handed in by ``postdesk.store.migrate``."""

from alembic import context

import postdesk.store.mailbox_models  # registers its table on Base.metadata
import postdesk.store.rules_models
import postdesk.store.suppression_models  # noqa: F401 - registers its table on Base.metadata
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
