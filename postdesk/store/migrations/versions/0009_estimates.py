"""estimates: linked tasks and time estimates of tickets

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)
BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fk(table: str, column: str, target: str, ondelete: str | None = None) -> sa.ForeignKey:
    return sa.ForeignKey(f"{target}.id", ondelete=ondelete, name=f"fk_{table}_{column}_{target}")


def upgrade() -> None:
    op.create_table(
        "ticket_tasks",
        sa.Column("id", BIG, primary_key=True, autoincrement=True),
        sa.Column(
            "ticket_id",
            BIG,
            _fk("ticket_tasks", "ticket_id", "tickets", "CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("url", sa.String(2000), nullable=True),
        sa.Column("state", sa.String(40), nullable=False),
        sa.Column(
            "assignee_id",
            sa.Integer(),
            _fk("ticket_tasks", "assignee_id", "agents", "SET NULL"),
            nullable=True,
        ),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("created_by", sa.String(320), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ticket_tasks"),
    )
    op.create_index("ix_ticket_tasks_ticket_id", "ticket_tasks", ["ticket_id"])
    op.create_table(
        "ticket_estimates",
        sa.Column(
            "ticket_id",
            BIG,
            _fk("ticket_estimates", "ticket_id", "tickets", "CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "org_id", sa.Integer(), _fk("ticket_estimates", "org_id", "client_orgs"), nullable=True
        ),
        sa.Column(
            "requester_id",
            sa.Integer(),
            _fk("ticket_estimates", "requester_id", "contacts"),
            nullable=True,
        ),
        sa.Column("suggested_minutes", sa.Integer(), nullable=True),
        sa.Column("confidence", sa.String(10), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("client_factor", sa.Float(), nullable=False),
        sa.Column("agent_minutes", sa.Integer(), nullable=True),
        sa.Column("estimated_by", sa.String(320), nullable=True),
        sa.Column("actual_minutes", sa.Integer(), nullable=True),
        sa.Column("actual_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("ticket_id", name="pk_ticket_estimates"),
    )
    op.create_index("ix_ticket_estimates_org_id", "ticket_estimates", ["org_id"])
    op.create_index("ix_ticket_estimates_requester_id", "ticket_estimates", ["requester_id"])
    op.create_index("ix_ticket_estimates_actual_at", "ticket_estimates", ["actual_at"])


def downgrade() -> None:
    op.drop_table("ticket_estimates")
    op.drop_table("ticket_tasks")
