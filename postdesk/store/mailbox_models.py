"""Per-mailbox IMAP state: the UID cursor that makes ingestion resumable, and its health.

Kept apart from ``models`` so the IMAP adapter owns its one table; it shares ``Base`` so
Alembic and ``create_all`` see it with the rest.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from postdesk.clock import utcnow
from postdesk.store.models import Base


class MailboxState(Base):
    """Where a mailbox's worker stands: everything up to ``last_uid`` is committed and acted on.

    ``last_uid`` is only meaningful together with ``uidvalidity``; when the server reports
    another UIDVALIDITY the worker starts again from 0 and relies on receive's dedupe.
    """

    __tablename__ = "mailbox_state"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    connected: Mapped[bool] = mapped_column(Boolean, default=False)
    last_sync_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    backlog: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
