"""indexes for the inbound rate limit and the cap on automatic mail

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 11:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_messages_sender_recent", "messages", ["from_address", "created_at"])
    op.create_index("ix_outbox_recent_automatic", "outbox", ["automatic", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_recent_automatic", table_name="outbox")
    op.drop_index("ix_messages_sender_recent", table_name="messages")
