"""Precision of KB suggestions: import benchmarks/kb_eval into a fresh store, run every case.

Each case is a client's mail (subject and body, quoted history and all) and the article that
answers it, or none. The mail goes through the same steps as at ingest: new text extracted
(quotes and signature cut), query built, searched, picked against the threshold. Printed per
half: the even-numbered cases (used to tune) and the odd-numbered ones (held out).

    python benchmarks/kb_precision.py            # SQLite in a temp dir
    python benchmarks/kb_precision.py --pg       # also PostgreSQL (a throwaway database)
    python benchmarks/kb_precision.py --sweep    # figures for a range of thresholds
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import yaml
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from postdesk.clock import utcnow
from postdesk.inbound.reply_text import extract_new_text
from postdesk.rules.kb_search import (
    Bm25Index,
    KbSearch,
    StoreBm25Search,
    pick_suggestions,
)
from postdesk.rules.kb_text import build_query
from postdesk.rules.suggest import SuggestConfig
from postdesk.store import migrate
from postdesk.store.db import Database
from postdesk.store.kb import upsert_article
from postdesk.store.kb_files import article_files, read_article

EVAL = Path(__file__).resolve().parent / "kb_eval"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True, slots=True)
class Case:
    subject: str
    body: str
    expect: str | None


@dataclass(frozen=True, slots=True)
class Figures:
    answerable: int
    at1: int
    at3: int
    no_suggestion: int  # answerable cases that got nothing
    unanswerable: int
    false_suggestion: int  # unanswerable cases that got something

    @property
    def p1(self) -> float:
        return self.at1 / self.answerable if self.answerable else 0.0

    @property
    def p3(self) -> float:
        return self.at3 / self.answerable if self.answerable else 0.0

    def line(self, label: str) -> str:
        return (
            f"{label:<9} precision@1 {self.p1:.3f} ({self.at1}/{self.answerable})  "
            f"precision@3 {self.p3:.3f} ({self.at3}/{self.answerable})  "
            f"no suggestion {self.no_suggestion}/{self.answerable}  "
            f"suggested on unrelated mail {self.false_suggestion}/{self.unanswerable}"
        )


def load_cases(path: Path = EVAL / "cases.yaml") -> list[Case]:
    return [
        Case(c["subject"], c["body"], c.get("expect")) for c in yaml.safe_load(path.read_text())
    ]


def import_articles(db: Database, directory: Path = EVAL / "articles") -> int:
    articles = [read_article(p) for p in article_files(directory)]
    with db.transaction() as session:
        for article in articles:
            upsert_article(session, article, utcnow())
    return len(articles)


def suggest(db: Database, search: KbSearch, case: Case, config: SuggestConfig) -> list[str]:
    query = build_query(case.subject, extract_new_text(case.body), max_terms=config.max_query_terms)
    with db.sessions() as session:
        hits = search.search(session, query, limit=config.limit)
    picked = pick_suggestions(
        hits,
        threshold=config.threshold,
        relative=config.relative,
        limit=config.limit,
        min_terms=config.min_terms,
    )
    return [h.slug for h in picked]


def evaluate(
    db: Database, cases: Sequence[Case], config: SuggestConfig, search: KbSearch | None = None
) -> Figures:
    search = search or StoreBm25Search()
    at1 = at3 = none = answerable = false = 0
    for case in cases:
        slugs = suggest(db, search, case, config)
        if case.expect is None:
            false += bool(slugs)
            continue
        answerable += 1
        at1 += bool(slugs) and slugs[0] == case.expect
        at3 += case.expect in slugs
        none += not slugs
    return Figures(answerable, at1, at3, none, len(cases) - answerable, false)


def halves(cases: Sequence[Case]) -> tuple[list[Case], list[Case]]:
    """(tune, held out): even- and odd-numbered cases."""
    return list(cases[0::2]), list(cases[1::2])


@contextmanager
def sqlite_store() -> Iterator[Database]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/kb.sqlite3")
        migrate.upgrade(db)
        try:
            yield db
        finally:
            db.dispose()


@contextmanager
def postgres_store(admin_url: str) -> Iterator[Database]:
    name = f"postdesk_kb_bench_{uuid.uuid4().hex[:8]}"
    admin = Database(admin_url)
    with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db = Database(f"{admin_url.rpartition('/')[0]}/{name}")
    try:
        migrate.upgrade(db)
        yield db
    finally:
        db.dispose()
        with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def report(label: str, db: Database, config: SuggestConfig, sweep: bool) -> None:
    count = import_articles(db)
    cases = load_cases()
    tune, held_out = halves(cases)
    print(f"{label}: {count} article files, {len(cases)} cases, threshold {config.threshold}")
    for name, part in (("tune", tune), ("held-out", held_out), ("all", cases)):
        print("  " + evaluate(db, part, config).line(name))
    if sweep:
        for threshold in (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4):
            for min_terms in (1, 2):
                cfg = replace(config, threshold=threshold, min_terms=min_terms)
                print(f"  t={threshold:<5} m={min_terms} " + evaluate(db, tune, cfg).line("tune"))


def index_build_seconds(copies: int = 20) -> tuple[int, float]:
    """Time to build the index over ``copies`` x the eval KB (the rebuild cost on a change)."""
    articles = [read_article(p) for p in article_files(EVAL / "articles")]
    rows = [(f"{a.slug}-{i}", a.title, a.body, a.tags) for i in range(copies) for a in articles]
    start = time.perf_counter()
    Bm25Index(rows)
    return len(rows), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", nargs="?", const=PG_ADMIN_URL, help="also on PostgreSQL")
    parser.add_argument("--threshold", type=float, default=SuggestConfig().threshold)
    parser.add_argument("--sweep", action="store_true", help="try several thresholds (tune half)")
    args = parser.parse_args()
    config = SuggestConfig(threshold=args.threshold)
    with sqlite_store() as db:
        report("sqlite", db, config, args.sweep)
    if args.pg:
        with postgres_store(args.pg) as db:
            report("postgresql", db, config, args.sweep)
    n, seconds = index_build_seconds()
    print(f"index build: {n} articles in {seconds:.2f} s")


if __name__ == "__main__":
    main()
