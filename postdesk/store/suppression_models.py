"""Addresses we must not mail for a while: a permanent bounce put them here.

Kept apart from ``models`` so the bounce handling owns its one table; it shares ``Base`` so
Alembic and ``create_all`` see it with the rest.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from postdesk.clock import utcnow
from postdesk.store.models import Base


class Suppression(Base):
    """No mail goes to ``email`` before ``until``; ``reason`` says which bounce put it here."""

    __tablename__ = "suppressions"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    until: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
