"""Configuration edited in the admin: documents (the rules YAML, email template overrides)
and the history of every save.

A row is never deleted: "back to the file / built-in" stores ``body = NULL`` with the next
version, so every process can tell a change by the ``(name, version)`` pairs alone.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from postdesk.clock import utcnow
from postdesk.store.models import Base, BigId


class ConfigDocument(Base):
    """The current text of one document; ``body`` NULL means "use the file / built-in"."""

    __tablename__ = "config_documents"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)  # "rules", "email/ack.txt.j2"
    body: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(320))


class ConfigRevision(Base):
    """Every save of a document: who, when, and what it became (the audit of configuration)."""

    __tablename__ = "config_revisions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    by: Mapped[str] = mapped_column(String(320))
