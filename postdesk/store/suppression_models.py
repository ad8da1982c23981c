"""Addresses we must not mail for a while: a permanent bounce put them here.

Kept apart from ``models`` so the bounce handling owns its one table; it shares ``Base`` so
Alembic and ``create_all`` see it with the rest.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from postdesk.clock import utcnow
from postdesk.store.models import Base, BigId


class Suppression(Base):
    """No mail goes to ``email`` before ``until``; ``reason`` says which bounce put it here."""

    __tablename__ = "suppressions"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    until: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AutoReplySent(Base):
    """One recipient of one automatic mail we queued: the index the auto-reply caps count
    from (a scan of the day's outbox rows grew with all the automatic mail of the day)."""

    __tablename__ = "auto_replies_sent"
    __table_args__ = (Index("ix_auto_replies_sent_email_at", "email", "sent_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320))  # lower case
    sent_at: Mapped[datetime] = mapped_column(index=True)  # queued; pruned after two days
    # No foreign key: rebuilding the outbox table (SQLite migrations) must not empty this one.
    outbox_id: Mapped[int] = mapped_column(BigId)
