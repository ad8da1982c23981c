"""The knowledge base: help articles in categories, drafts until published.

Kept apart from ``models`` so the KB owns its tables; it shares ``Base`` so Alembic and
``create_all`` see them with the rest. Search is not stored here: ``postdesk.rules.kb_search``
builds its index from these rows, so SQLite and PostgreSQL rank the same way.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from postdesk.clock import utcnow
from postdesk.store.models import Base


class KbCategory(Base):
    """A section of the help centre; ``position`` orders categories in listings."""

    __tablename__ = "kb_categories"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class KbArticle(Base):
    """One help article: a question-style title and a Markdown body; clients see it once
    ``state`` is ``published``."""

    __tablename__ = "kb_articles"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text, default="")
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("kb_categories.id", ondelete="SET NULL"), index=True
    )
    state: Mapped[str] = mapped_column(String(12), default="draft")  # draft | published
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)

    category: Mapped[KbCategory | None] = relationship(lazy="joined")
