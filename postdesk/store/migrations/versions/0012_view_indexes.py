"""indexes for the ticket views: a page and the counts from an index, without a sort

(status, updated_at, id) serves one-status views, (assignee_id, status, updated_at, id) an
agent's view and the grouped counts, (updated_at, id, status, assignee_id) the views over
several statuses: their page of ids is found in the index alone (views.list_view).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 14:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_tickets_status_updated", "tickets", ["status", "updated_at", "id"])
    op.create_index(
        "ix_tickets_assignee_status_updated",
        "tickets",
        ["assignee_id", "status", "updated_at", "id"],
    )
    op.create_index(
        "ix_tickets_updated_covering", "tickets", ["updated_at", "id", "status", "assignee_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_updated_covering", table_name="tickets")
    op.drop_index("ix_tickets_assignee_status_updated", table_name="tickets")
    op.drop_index("ix_tickets_status_updated", table_name="tickets")
