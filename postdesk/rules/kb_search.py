"""Full-text search over published KB articles: one interface, a BM25 index in Python.

Why not SQLite FTS5 and PostgreSQL ``tsvector``: the two rank differently (``bm25()`` versus
``ts_rank``), so one relevance threshold could not mean the same on both, and a KB is small
(hundreds to a few thousand articles: an index of 1,000 articles builds in well under a
second, see benchmarks/kb_precision.py). The index is built from the store and rebuilt when
the KB's change stamp moves, so every process sees edits made by any other.

Scoring is BM25 with the title counted ``TITLE_WEIGHT`` times (a question-style title is the
best summary of what an article answers). ``relevance`` is the score divided by the best
score the query could reach on a document made of its own terms, so the threshold is a
fraction in [0, 1] that does not grow with the length of the mail.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import URL, select
from sqlalchemy.orm import Session

from postdesk.rules.kb_text import tokens
from postdesk.store.kb import kb_stamp
from postdesk.store.kb_models import KbArticle

K1 = 1.2
B = 0.75
TITLE_WEIGHT = 3


@dataclass(frozen=True, slots=True)
class ArticleHit:
    slug: str
    title: str
    score: float  # raw BM25
    relevance: float  # score / the query's reachable maximum, in [0, 1]
    matched: int = 0  # distinct query terms the article contains


@dataclass(frozen=True, slots=True)
class IndexedArticle:
    slug: str
    title: str
    text_tokens: Counter[str]
    length: float


class KbSearch(Protocol):
    """What the suggestion rule and the benchmark need from a search engine."""

    def search(
        self, session: Session, query: Mapping[str, int], *, limit: int = 3
    ) -> list[ArticleHit]: ...

    def empty(self, session: Session) -> bool: ...  # nothing to search: no query to build


class Bm25Index:
    """An immutable BM25 index over a list of articles."""

    def __init__(self, articles: Sequence[tuple[str, str, str, Sequence[str]]]) -> None:
        docs: list[IndexedArticle] = []
        df: Counter[str] = Counter()
        for slug, title, body, tags in articles:
            counts = Counter(tokens(body)) + Counter(tokens(" ".join(tags)))
            for term in tokens(title):
                counts[term] += TITLE_WEIGHT
            docs.append(IndexedArticle(slug, title, counts, float(sum(counts.values()))))
            df.update(counts.keys())
        self.docs = docs
        n = len(docs)
        self.avg_length = sum(d.length for d in docs) / n if n else 1.0
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def __len__(self) -> int:
        return len(self.docs)

    def search(self, query: Mapping[str, int], *, limit: int = 3) -> list[ArticleHit]:
        terms = {t: w for t, w in query.items() if t in self.idf}
        # The reachable maximum counts every query term, known to the KB or not: a mail
        # made mostly of words no article uses is a poor match even if one word hits.
        ceiling = sum(self.idf.get(t, self._unseen_idf) * w * (K1 + 1) for t, w in query.items())
        if not terms or ceiling <= 0:
            return []
        hits: list[ArticleHit] = []
        for doc in self.docs:
            norm = K1 * (1 - B + B * doc.length / self.avg_length)
            score, matched = 0.0, 0
            for term, weight in terms.items():
                tf = doc.text_tokens.get(term)
                if tf:
                    matched += 1
                    score += self.idf[term] * weight * tf * (K1 + 1) / (tf + norm)
            if score > 0:
                relevance = min(score / ceiling, 1.0)
                hits.append(ArticleHit(doc.slug, doc.title, score, relevance, matched))
        hits.sort(key=lambda h: (-h.score, h.slug))
        return hits[:limit]

    @property
    def _unseen_idf(self) -> float:
        n = len(self.docs)
        return math.log(1 + (n + 0.5) / 0.5) if n else 0.0


class StoreBm25Search:
    """``KbSearch`` over the store's published articles, cached until the KB changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._built: tuple[tuple[URL, tuple[int, datetime | None]], Bm25Index] | None = None

    def index(self, session: Session) -> Bm25Index:
        key = (session.get_bind().engine.url, kb_stamp(session))
        with self._lock:
            if self._built is not None and self._built[0] == key:
                return self._built[1]
        rows = session.execute(
            select(KbArticle.slug, KbArticle.title, KbArticle.body, KbArticle.tags)
            .where(KbArticle.state == "published")
            .order_by(KbArticle.id)
        ).all()
        index = Bm25Index([(r.slug, r.title, r.body, r.tags or ()) for r in rows])
        with self._lock:
            self._built = (key, index)
        return index

    def search(
        self, session: Session, query: Mapping[str, int], *, limit: int = 3
    ) -> list[ArticleHit]:
        return self.index(session).search(query, limit=limit)

    def empty(self, session: Session) -> bool:
        return len(self.index(session)) == 0


def pick_suggestions(
    hits: Sequence[ArticleHit],
    *,
    threshold: float,
    relative: float,
    limit: int,
    min_terms: int = 2,
) -> list[ArticleHit]:
    """The hits worth showing: above ``threshold``, within ``relative`` of the best one, and
    sharing at least ``min_terms`` words with the mail (one common word is a coincidence)."""
    good = [h for h in hits if h.matched >= min_terms]
    if not good or good[0].relevance < threshold:
        return []
    floor = max(threshold, good[0].relevance * relative)
    return [h for h in good if h.relevance >= floor][:limit]
