"""KB search on both databases, query building, the file format, and the precision floor."""

from __future__ import annotations

from datetime import timedelta

from postdesk.clock import utcnow
from postdesk.rules.kb_search import StoreBm25Search, pick_suggestions
from postdesk.rules.kb_text import build_query, tokens
from postdesk.store import kb_models  # noqa: F401 - registers the KB tables
from postdesk.store.db import Database
from postdesk.store.kb import ArticleData, upsert_article
from postdesk.store.kb_files import ArticleFileError, parse_article, render_article

ARTICLES = [
    ArticleData(
        "reset-password",
        "How do I reset my password?",
        "Click Forgot password on the sign-in page; the reset link is valid for an hour.",
        "Account",
        "published",
    ),
    ArticleData(
        "refund-an-order",
        "How do I refund an order?",
        "Open the order, click Refund, choose the items. The customer gets the money back.",
        "Orders",
        "published",
    ),
    ArticleData(
        "print-labels",
        "How do I print shipping labels?",
        "Open an order and click Create shipping label, then Print label.",
        "Shipping",
        "draft",
    ),
]


def _search(db: Database, subject: str, body: str) -> list[str]:
    with db.sessions() as session:
        hits = SEARCH.search(session, build_query(subject, body), limit=3)
    return [h.slug for h in pick_suggestions(hits, threshold=0.1, relative=0.6, limit=3)]


SEARCH = StoreBm25Search()


def test_search_ranks_published_articles_and_follows_edits(database_url: str) -> None:
    db = Database(database_url)
    try:
        with db.transaction() as session:
            for article in ARTICLES:
                assert upsert_article(session, article, utcnow()) == "created"
        assert _search(db, "Forgot my password", "The reset link expired.") == ["reset-password"]
        assert _search(db, "refund", "A customer wants a refund for her order") == [
            "refund-an-order"
        ]
        # A draft is never suggested.
        assert _search(db, "shipping labels", "How do I print a shipping label?") == []
        # Publishing it (in another transaction, as another process would) is seen at once.
        published = ArticleData(**{**_fields(ARTICLES[2]), "state": "published"})
        with db.transaction() as session:
            assert upsert_article(session, published, utcnow() + timedelta(seconds=1)) == "updated"
            assert upsert_article(session, ARTICLES[0], utcnow()) == "unchanged"
        assert _search(db, "shipping labels", "How do I print a shipping label?") == [
            "print-labels"
        ]
        assert _search(db, "Partnership", "Could we schedule a call with your CEO?") == []
    finally:
        db.dispose()


def _fields(a: ArticleData) -> dict:
    return {f: getattr(a, f) for f in ArticleData.__slots__}


def test_query_drops_stop_words_quotes_and_is_capped() -> None:
    query = build_query(
        "Re: [#12] Can't reset my passwords",
        "Hi team, thanks!\nI tried resetting it.\n> quoted invoice text\nRegards",
    )
    assert query == {"reset": 3, "password": 2}  # subject twice, "resetting" once more
    long_mail = " ".join(f"word{i}x" for i in range(500))
    assert len(build_query("Printer", long_mail, max_terms=10)) == 10
    assert tokens("Refunds refunded refunding") == ["refund"] * 3


def test_article_file_round_trip_and_errors() -> None:
    article = ArticleData("vat-id", "Où est ma facture ?", "Body *md*", "Billing", "published")
    assert parse_article(render_article(article), "ignored") == article
    parsed = parse_article("---\ntitle: T\n---\nbody\n", "from-file-name")
    assert (parsed.slug, parsed.state, parsed.body) == ("from-file-name", "draft", "body")
    for bad in ("no front matter", "---\ntitle: T\nbody", "---\ncategory: x\n---\n"):
        try:
            parse_article(bad, "x")
        except ArticleFileError:
            continue
        raise AssertionError(f"accepted {bad!r}")


def test_precision_floor_on_the_evaluation_set(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Floors just below the figures measured by benchmarks/kb_precision.py on SQLite."""
    from benchmarks.kb_precision import evaluate, import_articles, load_cases, sqlite_store
    from postdesk.rules.suggest import SuggestConfig

    with sqlite_store() as db:
        assert import_articles(db) >= 40
        cases = load_cases()
        assert len([c for c in cases if c.expect]) >= 60
        figures = evaluate(db, cases, SuggestConfig())
    assert figures.p1 >= 0.85, figures
    assert figures.p3 >= 0.92, figures
    assert figures.no_suggestion <= 4, figures
    assert figures.false_suggestion <= 2, figures
