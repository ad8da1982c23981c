"""rules: round-robin assignment cursor per team

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assignment_cursors",
        sa.Column("team", sa.String(100), primary_key=True),
        sa.Column(
            "last_agent_id",
            sa.Integer(),
            sa.ForeignKey(
                "agents.id",
                ondelete="SET NULL",
                name="fk_assignment_cursors_last_agent_id_agents",
            ),
            nullable=True,
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("team", name="pk_assignment_cursors"),
    )


def downgrade() -> None:
    op.drop_table("assignment_cursors")
