"""workflow: tags, assignment origin, escalation level, status and response times; notifications

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("tags", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("assigned_by", sa.String(320), nullable=True))
        batch.add_column(
            sa.Column("escalation_level", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column(
                "status_changed_at", UTC, nullable=False, server_default=sa.func.current_timestamp()
            )
        )
        batch.add_column(sa.Column("first_response_at", UTC, nullable=True))
    op.create_index("ix_tickets_updated_at", "tickets", ["updated_at"])  # the views' order
    op.create_table(
        "notifications",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "agent_id",
            sa.Integer(),
            sa.ForeignKey("agents.id", ondelete="CASCADE", name="fk_notifications_agent_id_agents"),
            nullable=False,
        ),
        sa.Column(
            "ticket_id",
            BigId,
            sa.ForeignKey("tickets.id", name="fk_notifications_ticket_id_tickets"),
            nullable=True,
        ),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("summary", sa.String(500), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("read_at", UTC, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
    )
    op.create_index("ix_notifications_agent_unread", "notifications", ["agent_id", "read_at"])
    op.create_index("ix_notifications_ticket_id", "notifications", ["ticket_id"])


def downgrade() -> None:
    op.drop_table("notifications")
    op.drop_index("ix_tickets_updated_at", "tickets")
    with op.batch_alter_table("tickets") as batch:
        for column in (
            "first_response_at",
            "status_changed_at",
            "escalation_level",
            "assigned_by",
            "tags",
        ):
            batch.drop_column(column)
