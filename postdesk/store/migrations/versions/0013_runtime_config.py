"""cfgrun: support addresses and IMAP mailboxes added in the admin

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "support_addresses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("default_type", sa.String(20), nullable=True),
        sa.Column("default_team", sa.String(100), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_support_addresses"),
        sa.UniqueConstraint("address", name="uq_support_addresses_address"),
    )
    op.create_table(
        "imap_mailboxes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("security", sa.String(10), nullable=False),
        sa.Column("username", sa.String(320), nullable=False),
        sa.Column("password", sa.Text(), nullable=False),
        sa.Column("folder", sa.String(255), nullable=False),
        sa.Column("move_to", sa.String(255), nullable=True),
        sa.Column("support_address", sa.String(320), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_imap_mailboxes"),
        sa.UniqueConstraint("name", name="uq_imap_mailboxes_name"),
    )


def downgrade() -> None:
    op.drop_table("imap_mailboxes")
    op.drop_table("support_addresses")
