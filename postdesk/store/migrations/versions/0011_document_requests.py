"""docreq: document requests and the documents they name

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "document_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("requested_by", sa.String(320), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reminders_sent", sa.Integer(), nullable=False),
        sa.Column("last_reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fulfilled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            ondelete="CASCADE",
            name="fk_document_requests_ticket_id_tickets",
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            ondelete="SET NULL",
            name="fk_document_requests_agent_id_agents",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_document_requests"),
    )
    op.create_index("ix_document_requests_open", "document_requests", ["fulfilled_at", "ticket_id"])
    op.create_table(
        "requested_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column(
            "ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("attachment_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["document_requests.id"],
            ondelete="CASCADE",
            name="fk_requested_documents_request_id_document_requests",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            ondelete="CASCADE",
            name="fk_requested_documents_ticket_id_tickets",
        ),
        sa.ForeignKeyConstraint(
            ["attachment_id"],
            ["attachments.id"],
            ondelete="SET NULL",
            name="fk_requested_documents_attachment_id_attachments",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_requested_documents"),
    )
    op.create_index("ix_requested_documents_request_id", "requested_documents", ["request_id"])
    op.create_index("ix_requested_documents_ticket_id", "requested_documents", ["ticket_id"])


def downgrade() -> None:
    op.drop_table("requested_documents")
    op.drop_index("ix_document_requests_open", table_name="document_requests")
    op.drop_table("document_requests")
