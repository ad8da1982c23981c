"""KB suggestions: a new ticket by email gets the published articles that may answer it.

Runs before ``Acknowledge`` on ``ticket.created``: it puts the articles in
``ctx.facts["articles"]`` (which the acknowledgement lists) and records them on the ticket as
an audit entry (action ``kb_suggested``), so agents see what the client was shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from postdesk.rules.engine import Ahead, RuleContext
from postdesk.rules.kb_search import KbSearch, StoreBm25Search, pick_suggestions
from postdesk.rules.kb_text import MAX_QUERY_TERMS, build_query
from postdesk.store.audit_log import audit
from postdesk.store.kb import ask_kb_stamp

# Measured on benchmarks/kb_eval (see benchmarks/kb_precision.py).
DEFAULT_THRESHOLD = 0.1
DEFAULT_RELATIVE = 0.6


@dataclass(frozen=True, slots=True)
class SuggestConfig:
    enabled: bool = True
    threshold: float = DEFAULT_THRESHOLD  # minimum relevance (0..1) of the best article
    relative: float = DEFAULT_RELATIVE  # further articles need this share of the best one's
    limit: int = 3
    min_terms: int = 2  # words an article must share with the mail
    max_query_terms: int = MAX_QUERY_TERMS


@dataclass
class SuggestArticles:
    config: SuggestConfig = field(default_factory=SuggestConfig)
    search: KbSearch = field(default_factory=StoreBm25Search)
    name: str = "suggest_articles"
    description: str = "Find published KB articles that may answer a new ticket's first mail."
    events: tuple[str, ...] = ("ticket.created",)

    def check(self, ctx: RuleContext) -> str | None:
        if not self.config.enabled or ctx.ticket.origin != "email" or ctx.message is None:
            return None
        if ctx.message.direction != "in" or not ctx.may_auto_respond:
            return None  # no acknowledgement will carry them
        return "new ticket by email"

    def ask_ahead(self, session: Session, ahead: Ahead) -> None:
        if self.config.enabled:
            ask_kb_stamp(session)  # what ``StoreBm25Search`` reads first

    def apply(self, ctx: RuleContext) -> None:
        message = ctx.message
        assert message is not None
        if self.search.empty(ctx.session):
            return  # no published article: the mail's words need not be counted
        query = build_query(
            message.subject or ctx.ticket.subject,
            message.text_new or message.text_full,
            max_terms=self.config.max_query_terms,
        )
        if not query:
            return
        hits = pick_suggestions(
            self.search.search(ctx.session, query, limit=max(self.config.limit, 1)),
            threshold=self.config.threshold,
            relative=self.config.relative,
            limit=self.config.limit,
            min_terms=self.config.min_terms,
        )
        if not hits:
            return
        base = ctx.ident.portal_url.rstrip("/")
        ctx.facts["articles"] = [
            {"slug": h.slug, "title": h.title, "url": f"{base}/kb/{h.slug}"} for h in hits
        ]
        audit(
            ctx.session,
            ctx.ticket.id,
            f"rule:{self.name}",
            "kb_suggested",
            new=" ".join(h.slug for h in hits),
            detail=", ".join(f"{h.slug} ({h.relevance:.2f})" for h in hits),
            at=ctx.now,
        )
