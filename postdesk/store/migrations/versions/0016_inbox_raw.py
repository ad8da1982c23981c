"""keep small raw messages in their inbox row

A raw message up to ``gateway.receive.INLINE_MAX`` bytes is written into ``inbox.raw`` in
the transaction that records it, so the row's commit makes it durable; a blob file cost
two fsyncs of its own per message. Larger messages, and every row written before this
revision, keep their bytes in the blob store (``raw`` NULL). On PostgreSQL the column is
stored out of line without compression: mail is read back rarely (a retry), and
compressing it on every insert cost the server CPU for nothing.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("raw", sa.LargeBinary(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE inbox ALTER COLUMN raw SET STORAGE EXTERNAL")


def downgrade() -> None:
    # Rows whose bytes live only here would lose them: refuse rather than drop mail.
    bind = op.get_bind()
    kept = bind.execute(sa.text("SELECT count(*) FROM inbox WHERE raw IS NOT NULL")).scalar()
    if kept:
        raise RuntimeError(
            f"{kept} inbox rows keep their raw message only in inbox.raw; write them to the "
            "blob store before downgrading"
        )
    with op.batch_alter_table("inbox") as batch:
        batch.drop_column("raw")
