"""cfgcontent: configuration documents edited in the admin, and their history

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "config_documents",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("updated_by", sa.String(320), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_config_documents"),
    )
    op.create_table(
        "config_revisions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("at", UTC, nullable=False),
        sa.Column("by", sa.String(320), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_config_revisions"),
    )
    op.create_index("ix_config_revisions_name", "config_revisions", ["name"])


def downgrade() -> None:
    op.drop_index("ix_config_revisions_name", table_name="config_revisions")
    op.drop_table("config_revisions")
    op.drop_table("config_documents")
