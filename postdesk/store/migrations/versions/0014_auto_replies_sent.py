"""auto_replies_sent: the recipients of automatic mail, indexed for the auto-reply caps

The caps used to scan the day's automatic outbox rows with a LIKE over their recipient
lists (through ix_outbox_recent_automatic, dropped here), a cost that grew with all the
automatic mail of the day. The last two days of
automatic mail are copied in, so the caps hold across the upgrade.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-23 18:00:00
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    table = op.create_table(
        "auto_replies_sent",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("sent_at", TZ, nullable=False),
        sa.Column("outbox_id", BigId, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_auto_replies_sent"),
    )
    op.create_index("ix_auto_replies_sent_email_at", "auto_replies_sent", ["email", "sent_at"])
    op.create_index("ix_auto_replies_sent_sent_at", "auto_replies_sent", ["sent_at"])
    _copy_recent(op.get_bind(), table)
    op.drop_index("ix_outbox_recent_automatic", table_name="outbox")  # nothing reads it now


def _copy_recent(bind: sa.Connection, table: sa.Table) -> None:
    outbox = sa.table(
        "outbox",
        sa.column("id", sa.Integer),
        sa.column("automatic", sa.Boolean),
        sa.column("state", sa.String),
        sa.column("recipients", sa.JSON),
        sa.column("created_at", TZ),
    )
    since = datetime.now(UTC) - timedelta(days=2)
    if bind.dialect.name == "sqlite":  # stored naive there, in UTC
        since = since.replace(tzinfo=None)
    rows = bind.execute(
        sa.select(outbox.c.id, outbox.c.recipients, outbox.c.created_at).where(
            outbox.c.automatic.is_(True),
            outbox.c.state != "suppressed",
            outbox.c.created_at >= since,
        )
    )
    copied = []
    for outbox_id, recipients, created_at in rows:
        if isinstance(recipients, str):
            recipients = json.loads(recipients)
        for email in dict.fromkeys(r.lower() for r in recipients or []):
            copied.append({"email": email, "sent_at": created_at, "outbox_id": outbox_id})
    if copied:
        bind.execute(sa.insert(table), copied)


def downgrade() -> None:
    op.create_index("ix_outbox_recent_automatic", "outbox", ["automatic", "created_at"])
    op.drop_index("ix_auto_replies_sent_sent_at", table_name="auto_replies_sent")
    op.drop_index("ix_auto_replies_sent_email_at", table_name="auto_replies_sent")
    op.drop_table("auto_replies_sent")
