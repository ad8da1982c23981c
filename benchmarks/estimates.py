"""Accuracy of time-estimate suggestions on a history with a known, hidden time model.

Generates ``--tickets`` support tickets (default 800) over topics with their own vocabulary,
base minutes and noise, from clients with their own speed factor:

    actual = base[topic] x factor[client] x lognormal(0, sigma[topic])

and replays them in time order: each ticket gets the suggestion computed only from the
tickets before it (the same code as production: ``HistoryIndex`` and ``client_ratios``'
arithmetic), then its actual time joins the history. Printed: mean absolute error of the
suggestion against the naive "median of all earlier tickets", by confidence level, against
the noise floor (the hidden base x factor, which no estimator can beat on average), and the
cost of building the index over the production cap of 2,000 tickets and of one query.

    python benchmarks/estimates.py
    python benchmarks/estimates.py --tickets 1500 --seed 7
    python benchmarks/estimates.py --store     # also the cost in a real (SQLite) store
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import mean, median

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from postdesk.rules.estimate import CLIENT_HISTORY, CONFIDENCES
from postdesk.rules.estimate_index import (
    HistoryIndex,
    PastTicket,
    StoreEstimateIndex,
    doc_terms,
)

# topic: (base minutes, noise sigma, vocabulary)
TOPICS: dict[str, tuple[float, float, str]] = {
    "password": (10, 0.25, "password reset login locked account forgot link expired"),
    "invoice": (20, 0.3, "invoice billing charge vat receipt payment refund amount"),
    "printer": (45, 0.35, "printer toner paper jam tray driver spooler print"),
    "vpn": (60, 0.3, "vpn tunnel certificate remote gateway disconnect client split"),
    "email": (30, 0.3, "mailbox outlook calendar shared quota signature alias forwarding"),
    "laptop": (90, 0.35, "laptop screen keyboard battery hinge replacement warranty boot"),
    "migration": (240, 0.5, "migration database schema export import cutover legacy"),
    "report": (120, 0.4, "report dashboard query chart export filter metrics pivot"),
    "network": (75, 0.6, "network switch wifi router latency packet outage dhcp"),
    "access": (15, 0.25, "access permission folder sharepoint group role grant"),
    "phone": (35, 0.35, "phone voicemail extension headset dial transfer desk"),
    "backup": (150, 0.7, "backup restore snapshot retention nas archive recovery"),
}
GENERIC = (
    "please urgent today colleague office since morning again working team stopped "
    "error message screenshot attached asap boss meeting"
)
SUBJECTS = ["{a} {b} not working", "Problem with {a}", "{a}: {b} issue", "Need help with {a} {b}"]


@dataclass(frozen=True, slots=True)
class Case:
    id: int
    client: int
    subject: str
    body: str
    actual: int
    hidden: float  # base x factor: the best any estimator could do


def generate(n: int, clients: int, rng: random.Random) -> list[Case]:
    factors = [math.exp(rng.gauss(0, 0.45)) for _ in range(clients)]
    weights = [rng.paretovariate(1.2) for _ in range(clients)]  # a few clients write a lot
    names = list(TOPICS)
    cases: list[Case] = []
    for i in range(1, n + 1):
        topic = rng.choice(names)
        client = rng.choices(range(clients), weights)[0]
        base, sigma, words_of_topic = TOPICS[topic]
        vocab, generic = words_of_topic.split(), GENERIC.split()
        words = rng.sample(vocab, 2)
        subject = rng.choice(SUBJECTS).format(a=words[0], b=words[1])
        body_words = [rng.choice(vocab) if rng.random() < 0.55 else rng.choice(generic)]
        body_words += [
            rng.choice(vocab) if rng.random() < 0.55 else rng.choice(generic)
            for _ in range(rng.randint(8, 25))
        ]
        if rng.random() < 0.15:  # a mail that mentions another topic on the way
            other = TOPICS[rng.choice(names)][2].split()
            body_words += rng.sample(other, 2)
        hidden = base * factors[client]
        actual = max(1, round(hidden * math.exp(rng.gauss(0, sigma))))
        cases.append(Case(i, client, subject, " ".join(body_words) + ".", actual, hidden))
    return cases


@dataclass
class Row:
    suggested: int
    baseline: float
    actual: int
    hidden: float
    confidence: str


def replay(cases: list[Case], warmup: int, *, use_client: bool = True) -> list[Row]:
    past: list[PastTicket] = []
    # per client, newest first: (actual, suggested, factor) as the store keeps them
    history: dict[int, list[tuple[int, int, float]]] = {}
    rows: list[Row] = []
    for case in cases:
        terms = doc_terms(case.subject, case.body)
        mine = history.get(case.client, [])[:CLIENT_HISTORY] if use_client else []
        ratios = [a / (s / f) for a, s, f in mine]
        suggestion = HistoryIndex(past).suggest(terms, ratios) if past else None
        if suggestion is not None:
            if len(past) >= warmup:
                baseline = median(p.minutes for p in past)
                rows.append(
                    Row(
                        suggestion.minutes,
                        baseline,
                        case.actual,
                        case.hidden,
                        suggestion.confidence,
                    )
                )
            history.setdefault(case.client, []).insert(
                0, (case.actual, suggestion.minutes, suggestion.client_factor)
            )
        past.append(PastTicket(case.id, case.subject, case.actual, terms))
    return rows


def mae(pairs: list[tuple[float, float]]) -> float:
    return mean(abs(a - b) for a, b in pairs) if pairs else float("nan")


def report(rows: list[Row]) -> None:
    print(f"{'':<28}{'tickets':>8}{'MAE min':>10}{'baseline':>10}{'floor':>8}{'within 30%':>12}")

    def line(label: str, subset: list[Row]) -> None:
        ours = mae([(r.suggested, r.actual) for r in subset])
        base = mae([(r.baseline, r.actual) for r in subset])
        floor = mae([(r.hidden, r.actual) for r in subset])
        close = sum(abs(r.suggested - r.actual) <= 0.3 * r.actual for r in subset)
        share = 100 * close / len(subset) if subset else float("nan")
        print(f"{label:<28}{len(subset):>8}{ours:>10.1f}{base:>10.1f}{floor:>8.1f}{share:>11.0f}%")

    line("all suggestions", rows)
    for level in CONFIDENCES:
        line(f"  confidence {level}", [r for r in rows if r.confidence == level])


def timing(rng: random.Random) -> None:
    cases = generate(2000, 40, rng)
    past = [PastTicket(c.id, c.subject, c.actual, doc_terms(c.subject, c.body)) for c in cases]
    started = time.perf_counter()
    index = HistoryIndex(past)
    built = time.perf_counter() - started
    queries = [doc_terms(c.subject, c.body) for c in generate(200, 40, rng)]
    started = time.perf_counter()
    for q in queries:
        index.suggest(q, [1.2, 0.9, 1.5])
    per_query = (time.perf_counter() - started) / len(queries)
    print(
        f"index of 2,000 tickets built in {built * 1000:.0f} ms; "
        f"one suggestion {per_query * 1000:.2f} ms"
    )


def store_timing(rng: random.Random) -> None:
    """The production path on a migrated SQLite file: 2,000 resolved tickets, a cold index
    (reads every ticket's text), a cached suggestion, and the rebuild after one more actual."""
    from postdesk.clock import utcnow
    from postdesk.rules.estimate_rule import suggestion_for
    from postdesk.store import migrate
    from postdesk.store.db import Database
    from postdesk.store.estimates import record_actual
    from postdesk.store.models import Message, Ticket

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.sqlite3")
        migrate.upgrade(db)
        now = utcnow()
        cases = generate(2001, 40, rng)
        with db.transaction() as s:
            for c in cases:
                t = Ticket(subject=c.subject, created_at=now)
                s.add(t)
                s.flush()
                s.add(
                    Message(
                        ticket_id=t.id,
                        direction="in",
                        message_id=f"m{t.id}@bench",
                        subject=c.subject,
                        text_new=c.body,
                    )
                )
                if c.id <= 2000:
                    record_actual(s, t, c.actual, actor="bench", now=now)
        index = StoreEstimateIndex(rebuild_share=None)  # measure every rebuild
        with db.sessions() as s:
            new = s.get(Ticket, 2001)
            first = s.get(Message, 2001)
            assert new is not None
            started = time.perf_counter()
            suggestion_for(s, new, first, index)
            cold = time.perf_counter() - started
            started = time.perf_counter()
            for _ in range(20):
                suggestion_for(s, new, first, index)
            warm = (time.perf_counter() - started) / 20
        with db.transaction() as s:
            t = s.get(Ticket, 2001)
            assert t is not None
            record_actual(s, t, 30, actor="bench", now=utcnow())
        with db.sessions() as s:
            started = time.perf_counter()
            suggestion_for(s, s.get(Ticket, 1), s.get(Message, 1), index)  # type: ignore[arg-type]
            rebuilt = time.perf_counter() - started
        db.dispose()
    print(
        f"store (SQLite, 2,000 resolved): first suggestion {cold * 1000:.0f} ms (reads and "
        f"indexes every ticket), cached {warm * 1000:.1f} ms, after one more actual time "
        f"{rebuilt * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=800)
    parser.add_argument("--clients", type=int, default=25)
    parser.add_argument("--warmup", type=int, default=30, help="tickets before scoring starts")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--store", action="store_true", help="also time the store path")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    cases = generate(args.tickets, args.clients, rng)
    started = time.perf_counter()
    rows = replay(cases, args.warmup)
    elapsed = time.perf_counter() - started
    print(
        f"{args.tickets} tickets, {len(TOPICS)} topics, {args.clients} clients, seed {args.seed}; "
        f"scored after the first {args.warmup} (replay {elapsed:.1f} s)"
    )
    report(rows)
    text_only = replay(cases, args.warmup, use_client=False)
    print(
        f"{'text only, no client factor':<28}{len(text_only):>8}"
        f"{mae([(r.suggested, r.actual) for r in text_only]):>10.1f}"
    )
    timing(rng)
    if args.store:
        store_timing(rng)


if __name__ == "__main__":
    main()
