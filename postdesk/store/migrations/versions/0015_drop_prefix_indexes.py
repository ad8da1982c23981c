"""drop the ticket indexes that are prefixes of 0012's composite ones

(status), (assignee_id) and (updated_at) each lead one of the view indexes, which serve
every query they served (the foreign key on assignee_id included); a ticket write kept
all six up to date.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-23 18:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREFIXES = {
    "ix_tickets_status": "status",
    "ix_tickets_assignee_id": "assignee_id",
    "ix_tickets_updated_at": "updated_at",
}


def upgrade() -> None:
    for name in PREFIXES:
        op.drop_index(name, table_name="tickets")


def downgrade() -> None:
    for name, column in PREFIXES.items():
        op.create_index(name, "tickets", [column])
