"""State the rules keep between runs and across processes.

Kept apart from ``models`` so the rules own their table; it shares ``Base`` so Alembic and
``create_all`` see it with the rest.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from postdesk.clock import utcnow
from postdesk.store.models import Base


class AssignmentCursor(Base):
    """Round robin within a team: who got the last ticket. Locked while choosing the next,
    so several processes hand tickets out in turn, and a restart continues the turn."""

    __tablename__ = "assignment_cursors"
    team: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
