"""A large, realistic store for the admin and CLI view timings (benchmarks/admin_pages.py).

A desk in its steady state, where the time-based rules of ``postdesk serve`` have nothing to
catch up on (else its first tick would remind and close thousands of tickets during the
timings): pending tickets went pending less than 3 days ago, resolved ones were resolved
within the 14-day reopen window, older ones are closed.

Tickets spread over statuses (most of a year's tickets are closed), agents (some unassigned),
priorities and types, dated over a year; a few messages each; and one ticket with a long
thread and its history. Bulk inserts as in benchmarks/large_store.py.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from benchmarks.large_store import _bulk
from postdesk.admin.passwords import hash_password
from postdesk.clock import utcnow
from postdesk.store.db import Database
from postdesk.store.models import Agent, AuditEntry, Contact, Message, Ticket

AGENTS = 20
BENCH_AGENT = "bench-agent@support.example"
PASSWORD = "bench-password-0123"
# A support desk a year in: most tickets done, a working queue of a few thousand.
STATUS_WEIGHTS = {
    "closed": 72,
    "resolved": 4,
    "open": 9,
    "new": 4,
    "pending": 7,
    "on-hold": 4,
}
PRIORITY_WEIGHTS = {"P1": 3, "P2": 17, "P3": 60, "P4": 20}
TYPE_WEIGHTS = {"support": 80, "question": 17, "escalation": 3}


def _pick(rng: random.Random, weights: dict[str, int], n: int) -> list[str]:
    return rng.choices(list(weights), weights=list(weights.values()), k=n)


def fill(db: Database, tickets: int, per_ticket: int, long_thread: int, seed: int = 7) -> int:
    """Insert agents, contacts, tickets and messages; returns the long thread's ticket id."""
    rng = random.Random(seed)
    now = utcnow()
    year = 365 * 24 * 3600
    contacts = max(1, tickets // 5)
    agents = [
        {
            "id": a + 1,
            "email": f"agent{a}@support.example",
            "name": f"Agent {a}",
            "role": "agent",
            "password_hash": None,
        }
        for a in range(AGENTS)
    ]
    agents[0] |= {"email": BENCH_AGENT, "password_hash": hash_password(PASSWORD)}
    _bulk(db, Agent, iter(agents))
    _bulk(
        db,
        Contact,
        (
            {"id": i + 1, "email": f"c{i}@org{i % 500}.example", "name": f"C {i}"}
            for i in range(contacts)
        ),
    )
    statuses = _pick(rng, STATUS_WEIGHTS, tickets)
    priorities = _pick(rng, PRIORITY_WEIGHTS, tickets)
    types = _pick(rng, TYPE_WEIGHTS, tickets)
    # Created evenly over the year; updated some time after (open ones recently).
    created = [now - timedelta(seconds=year * (1 - t / tickets)) for t in range(tickets)]
    updated = [min(now, c + timedelta(seconds=rng.expovariate(1 / (3 * 86400)))) for c in created]
    for t, status in enumerate(statuses):  # the timers' steady state (module docstring)
        if status == "pending":
            updated[t] = now - timedelta(seconds=rng.uniform(0, 2.9 * 86400))
        elif status == "resolved":
            updated[t] = now - timedelta(seconds=rng.uniform(0, 13 * 86400))
        created[t] = min(created[t], updated[t])
    assignees = [rng.randrange(AGENTS) + 1 if rng.random() < 0.85 else None for _ in range(tickets)]
    long_id = tickets  # the newest ticket has the long thread
    statuses[long_id - 1] = "open"

    def ticket_rows() -> Iterator[dict[str, Any]]:
        for t in range(tickets):
            yield {
                "id": t + 1,
                "type": types[t],
                "status": statuses[t],
                "priority": priorities[t],
                "subject": f"Problem {t} with the {rng.choice(['printer', 'VPN', 'invoice'])}",
                "requester_id": t % contacts + 1,
                "assignee_id": assignees[t],
                "support_address": "support@bench.example",
                "origin": "email",
                "fields": {},
                "tags": [],
                "escalation_level": 0,
                "created_at": created[t],
                "updated_at": updated[t],
                "status_changed_at": updated[t],
                "resolved_at": updated[t] if statuses[t] in ("resolved", "closed") else None,
                "closed_at": updated[t] if statuses[t] == "closed" else None,
            }

    _bulk(db, Ticket, ticket_rows())

    def message_rows() -> Iterator[dict[str, Any]]:
        m = 0
        for t in range(tickets):
            n = long_thread if t + 1 == long_id else rng.randint(1, 2 * per_ticket - 1)
            for k in range(n):
                m += 1
                inbound = k % 2 == 0
                yield {
                    "id": m,
                    "ticket_id": t + 1,
                    "direction": "in" if inbound else "out",
                    "visibility": "public" if k % 7 else "internal",
                    "kind": "normal",
                    "from_address": f"c{t % contacts}@x.example"
                    if inbound
                    else f"agent{(assignees[t] or 1) - 1}@support.example",
                    "from_name": "",
                    "to_addresses": ["support@bench.example"],
                    "cc_addresses": [],
                    "subject": f"Re: Problem {t}",
                    "message_id": f"m{m}@bench.example",
                    "references": [],
                    "text_full": ("A message body line with some words in it.\n" * 12)
                    + "> quoted\n" * 10,
                    "text_new": "A message body line with some words in it.\n" * 12,
                    "thread_reason": "bench",
                    "created_at": created[t] + timedelta(minutes=k),
                }

    _bulk(db, Message, message_rows())
    _bulk(
        db,
        AuditEntry,
        (
            {
                "ticket_id": long_id,
                "actor": BENCH_AGENT,
                "action": "change",
                "field": "status",
                "old_value": "open",
                "new_value": "pending",
                "at": created[long_id - 1] + timedelta(minutes=k),
            }
            for k in range(long_thread // 5)
        ),
    )
    if db.is_postgres:  # explicit ids above: move the sequences past them
        with db.engine.begin() as conn:
            for table in ("agents", "contacts", "tickets", "messages"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
        # A store in use has been vacuumed by autovacuum: statistics and the visibility map
        # (index-only scans) as in production, not as right after a bulk load.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return long_id


def timed_fill(db: Database, tickets: int, per_ticket: int, long_thread: int) -> tuple[int, float]:
    start = time.perf_counter()
    long_id = fill(db, tickets, per_ticket, long_thread)
    return long_id, time.perf_counter() - start
