"""Repository functions for the knowledge base: categories, articles, and a change stamp."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from postdesk.store.direct import flush_pending
from postdesk.store.kb_models import KbArticle, KbCategory
from postdesk.store.prepared import Prepared
from postdesk.store.session_cache import is_remembered, remembered

STATES = ("draft", "published")


@dataclass(frozen=True, slots=True)
class ArticleData:
    """An article as files and the CLI see it: the category by name, not by id."""

    slug: str
    title: str
    body: str
    category: str = ""
    state: str = "draft"
    tags: tuple[str, ...] = field(default_factory=tuple)


def slugify(text: str) -> str:
    """ASCII, lower-case, words joined by '-': "Où est ma facture ?" -> "ou-est-ma-facture"."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:200]


def ensure_category(session: Session, name: str) -> KbCategory:
    """The category called ``name`` (matched by slug), created at the end of the list."""
    slug = slugify(name) or "general"
    category = session.scalar(select(KbCategory).where(KbCategory.slug == slug))
    if category is None:
        position = session.scalar(select(func.coalesce(func.max(KbCategory.position), 0))) or 0
        category = KbCategory(name=name.strip() or "General", slug=slug, position=position + 1)
        session.add(category)
        session.flush()
    return category


def upsert_article(session: Session, data: ArticleData, now: datetime) -> str:
    """Create or update the article with ``data.slug``: 'created', 'updated' or 'unchanged'."""
    if data.state not in STATES:
        raise ValueError(f"{data.slug}: state must be one of {', '.join(STATES)}")
    if not data.slug or data.slug != slugify(data.slug):
        raise ValueError(f"{data.slug!r}: a slug is lower-case letters, digits and '-'")
    category_id = ensure_category(session, data.category).id if data.category.strip() else None
    values = {
        "title": data.title.strip(),
        "body": data.body.strip() + "\n",
        "category_id": category_id,
        "state": data.state,
        "tags": list(data.tags),
    }
    article = session.scalar(select(KbArticle).where(KbArticle.slug == data.slug))
    if article is None:
        session.add(KbArticle(slug=data.slug, created_at=now, updated_at=now, **values))
        return "created"
    if all(getattr(article, k) == v for k, v in values.items()):
        return "unchanged"
    for key, value in values.items():
        setattr(article, key, value)
    article.updated_at = now
    return "updated"


def list_articles(session: Session, state: str | None = None) -> Sequence[KbArticle]:
    query = select(KbArticle).order_by(KbArticle.slug)
    if state:
        query = query.where(KbArticle.state == state)
    return session.scalars(query).all()


_STAMP = Prepared(select(func.count(KbArticle.id), func.max(KbArticle.updated_at)))


def article_data(article: KbArticle) -> ArticleData:
    return ArticleData(
        slug=article.slug,
        title=article.title,
        body=article.body,
        category=article.category.name if article.category else "",
        state=article.state,
        tags=tuple(article.tags or ()),
    )


def ask_kb_stamp(session: Session) -> None:
    """Send ``kb_stamp``'s read ahead (``Prepared.ask``) unless this transaction has it."""
    if not is_remembered(session, "kb_stamp"):
        _STAMP.ask(session, {})


def kb_stamp(session: Session) -> tuple[int, datetime | None]:
    """Changes when any article is added, edited, (un)published or deleted: the search index
    is rebuilt when this differs from the stamp it was built at. Asked for every new ticket:
    it flushes only when an article is among the session's pending changes."""
    flush_pending(session, KbArticle)
    count, latest = remembered(
        session, "kb_stamp", (KbArticle,), lambda: _STAMP.first(session, {}) or (0, None)
    )
    return int(count), latest
