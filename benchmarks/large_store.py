"""Does postdesk slow down as the store grows? Ingest rate and ticket views, empty versus full.

    python benchmarks/large_store.py [--messages 1000000] [--tickets 100000] [--ingest 400]
                                     [--database-url URL]

Fills a store with ``--tickets`` tickets and ``--messages`` stored messages (with their inbox
rows, contacts and one sent acknowledgement per ticket, all dated in the past), then measures
the durable SMTP ingest rate against it and against an empty store, in the same run with the
same generated mail (benchmarks/ingest.py's load generator), and times the ticket views the
CLI and the admin share (first page and count) on the full store. Prints a table.
With ``--database-url`` (PostgreSQL) the database must be empty and disposable: it is used
for the empty run, truncated, filled and left filled.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert

from benchmarks.corpus import generate
from benchmarks.ingest import bench_gateway
from postdesk.clock import utcnow
from postdesk.store import migrate
from postdesk.store.db import Database
from postdesk.store.models import Contact, InboxItem, Message, OutboxItem, Ticket
from postdesk.store.views import VIEWS, count_view, list_view

CHUNK = 20_000
STATUSES = ["new", "open", "pending", "on-hold", "resolved", "closed"]


def fill(db: Database, tickets: int, messages: int) -> float:
    """Bulk-insert a realistic history; returns seconds taken."""
    start = time.perf_counter()
    old = utcnow() - timedelta(days=30)
    contacts = max(1, tickets // 5)
    _bulk(
        db,
        Contact,
        (
            {"id": i + 1, "email": f"c{i}@org{i % 500}.example", "name": f"C {i}"}
            for i in range(contacts)
        ),
    )
    _bulk(
        db,
        Ticket,
        (
            {
                "id": t + 1,
                "type": "support",
                "status": STATUSES[t % len(STATUSES)],
                "priority": "P3",
                "subject": f"Old problem {t}",
                "requester_id": t % contacts + 1,
                "support_address": "support@bench.example",
                "origin": "email",
                "fields": {},
                "tags": [],
                "escalation_level": 0,
                "created_at": old,
                "updated_at": old + timedelta(seconds=t),
                "status_changed_at": old,
            }
            for t in range(tickets)
        ),
    )
    _bulk(
        db,
        InboxItem,
        (
            {
                "id": m + 1,
                "content_hash": hashlib.sha256(b"m%d" % m).hexdigest(),
                "message_id": f"old{m}@bench.example",
                "sender": f"c{m % contacts}@x.example",
                "dedupe_key": hashlib.sha256(b"k%d" % m).hexdigest(),
                "source": "smtp",
                "envelope_from": "",
                "envelope_to": [],
                "authenticated": False,
                "size": 2000,
                "state": "processed",
                "attempts": 1,
                "classification": "normal",
                "ticket_id": m % tickets + 1,
                "received_at": old,
                "processed_at": old,
            }
            for m in range(messages)
        ),
    )
    _bulk(
        db,
        Message,
        (
            {
                "id": m + 1,
                "ticket_id": m % tickets + 1,
                "direction": "in",
                "visibility": "public",
                "kind": "normal",
                "from_address": f"c{m % contacts}@org{m % 500}.example",
                "from_name": "",
                "to_addresses": ["support@bench.example"],
                "cc_addresses": [],
                "subject": f"Old problem {m % tickets}",
                "message_id": f"old{m}@bench.example",
                "references": [],
                "text_full": "An old message body. " * 8,
                "text_new": "An old message body.",
                "inbox_id": m + 1,
                "thread_reason": "bench",
                "created_at": old + timedelta(seconds=m),
            }
            for m in range(messages)
        ),
    )
    _bulk(
        db,
        OutboxItem,
        (
            {
                "id": t + 1,
                "ticket_id": t + 1,
                "kind": "ack",
                "automatic": True,
                "mail_from": "support@bench.example",
                "recipients": [f"c{t % contacts}@x.example"],
                "message_id": f"ack{t}@bench.example",
                "subject": "ack",
                "raw": b"x",
                "state": "sent",
                "attempts": 1,
                "next_attempt_at": old,
                "created_at": old,
                "sent_at": old,
            }
            for t in range(tickets)
        ),
    )
    if db.is_postgres:  # explicit ids above: move the sequences past them
        with db.engine.begin() as conn:
            for table in ("contacts", "tickets", "inbox", "messages", "outbox"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
            conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - start


def _bulk(db: Database, model: type, rows) -> None:  # type: ignore[no-untyped-def]
    batch: list[dict] = []
    with db.engine.begin() as conn:
        for row in rows:
            batch.append(row)
            if len(batch) == CHUNK:
                conn.execute(insert(model), batch)
                batch = []
        if batch:
            conn.execute(insert(model), batch)


def time_views(db: Database, runs: int = 5) -> dict[str, tuple[float, float]]:
    """Median milliseconds for each view's first page and its count."""
    out = {}
    with db.sessions() as session:
        for name in VIEWS:
            pages, counts = [], []
            for _ in range(runs):
                t = time.perf_counter()
                list_view(session, name, agent_id=1, limit=50)
                pages.append(time.perf_counter() - t)
                t = time.perf_counter()
                count_view(session, name, agent_id=1)
                counts.append(time.perf_counter() - t)
            out[name] = (statistics.median(pages) * 1000, statistics.median(counts) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--ingest", type=int, default=400, help="mails sent in each ingest run")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--database-url", default=None, help="an EMPTY PostgreSQL database")
    args = parser.parse_args()
    corpus = generate(args.ingest, seed=11)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        empty = bench_gateway(corpus, args.clients, root / "empty", args.database_url).rate
        full_url = args.database_url or f"sqlite:///{root / 'full.sqlite3'}"
        db = Database(full_url)
        migrate.upgrade(db)
        if db.is_postgres:  # the empty run's rows go; the filled history takes their place
            with db.engine.begin() as conn:
                conn.exec_driver_sql(
                    "TRUNCATE audit, attachments, messages, participants, inbox_arrivals, inbox,"
                    " outbox, tickets, contacts RESTART IDENTITY CASCADE"
                )
        took = fill(db, args.tickets, args.messages)
        print(f"filled {args.tickets:,} tickets / {args.messages:,} messages in {took:.0f} s")
        views = time_views(db)
        db.dispose()
        full = bench_gateway(corpus, args.clients, root / "full", full_url).rate
    store = "PostgreSQL" if args.database_url else "SQLite"
    print(f"\n| store ({store}) | ingest msg/s |\n|---|---|")
    print(f"| empty | {empty:.1f} |\n| {args.messages:,} messages | {full:.1f} |")
    print(f"ratio full/empty: {full / empty:.2f}")
    print(f"\n| view ({args.tickets:,} tickets) | first page ms | count ms |\n|---|---|---|")
    for name, (page, count) in views.items():
        print(f"| {name} | {page:.1f} | {count:.1f} |")


if __name__ == "__main__":
    main()
