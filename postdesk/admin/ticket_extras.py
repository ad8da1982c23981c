"""What the ticket page shows about the rules and the knowledge base (its own partials):
the articles the client was sent, or the ones the suggestion rule would pick now.

Exposed to templates as the global ``ticket_articles(request, ticket)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import select

from postdesk.rules.kb_search import pick_suggestions
from postdesk.rules.kb_text import build_query
from postdesk.rules.suggest import SuggestArticles
from postdesk.store.kb_models import KbArticle
from postdesk.store.models import AuditEntry, Message, Ticket


@dataclass(frozen=True, slots=True)
class Suggested:
    slug: str
    title: str
    published: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class TicketArticles:
    sent: list[Suggested]  # what the acknowledgement listed (audit ``kb_suggested``)
    computed: list[Suggested]  # nothing was sent: what the rule would find now


def ticket_articles(request: Request, ticket: Ticket) -> TicketArticles:
    core = request.app.state.admin.core
    with core.db.sessions() as s:
        entries = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.ticket_id == ticket.id, AuditEntry.action == "kb_suggested")
            .order_by(AuditEntry.id)
        ).all()
        slugs = [slug for e in entries for slug in (e.new_value or "").split()]
        if slugs:
            found = {
                a.slug: a for a in s.scalars(select(KbArticle).where(KbArticle.slug.in_(slugs)))
            }
            details = _details(entries)
            sent = [_suggested(slug, found.get(slug), details.get(slug, "")) for slug in slugs]
            return TicketArticles(sent, [])
        return TicketArticles([], _compute(s, core.rules, ticket.id))


def _suggested(slug: str, article: KbArticle | None, detail: str) -> Suggested:
    if article is None:
        return Suggested(slug, f"{slug} (deleted)", False, detail)
    return Suggested(slug, article.title, article.state == "published", detail)


def _details(entries: Any) -> dict[str, str]:
    """``slug (0.42), other (0.31)`` -> {slug: "0.42", ...}"""
    out = {}
    for e in entries:
        for item in (e.detail or "").split(", "):
            slug, _, rest = item.partition(" (")
            out[slug] = rest.rstrip(")")
    return out


def _compute(session: Any, rules: Any, ticket_id: int) -> list[Suggested]:
    rule = next((r for r in rules if isinstance(r, SuggestArticles)), None)
    first = session.scalar(
        select(Message)
        .where(Message.ticket_id == ticket_id, Message.direction == "in")
        .order_by(Message.id)
        .limit(1)
    )
    if rule is None or first is None:
        return []
    query = build_query(
        first.subject or "",
        first.text_new or first.text_full or "",
        max_terms=rule.config.max_query_terms,
    )
    if not query:
        return []
    hits = pick_suggestions(
        rule.search.search(session, query, limit=max(rule.config.limit, 1)),
        threshold=rule.config.threshold,
        relative=rule.config.relative,
        limit=rule.config.limit,
        min_terms=rule.config.min_terms,
    )
    return [Suggested(h.slug, h.title, True, f"{h.relevance:.2f}") for h in hits]
