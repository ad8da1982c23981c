"""Every table of the store on one ``Base.metadata``: import this, not the model modules one by one.

Migrations (``migrations/env.py``) and the test that compares models with migrations use it,
so a new model module is registered in one place.
"""

from postdesk.store import (  # noqa: F401 - importing registers the tables
    admin_models,
    config_models,
    document_models,
    kb_models,
    mailbox_models,
    rules_models,
    runtime_models,
    suppression_models,
    task_models,
)
from postdesk.store.models import Base

metadata = Base.metadata
