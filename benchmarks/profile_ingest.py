"""Where the durable ingest time goes: ``App.accept`` on the generated corpus under cProfile.

    python benchmarks/profile_ingest.py [--messages 300] [--database-url URL] [--top 40]

One thread, no SMTP: the same work the SMTP handler does between DATA and 250, one message
at a time. Prints the time per message without the profiler (the best of three runs after
the profiled one), then under it with SQL statements, flushes and commits per message, then
the functions with the largest cumulative time (so a before/after comparison names the same
entries).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event
from sqlalchemy.orm import Session

from benchmarks.corpus import generate
from benchmarks.ingest import bench_app
from postdesk.gateway.app import App
from postdesk.inbound.message import Envelope


class Counts:
    def __init__(self) -> None:
        self.statements = self.flushes = self.commits = 0


def instrument(app: App) -> Counts:
    counts = Counts()

    @event.listens_for(app.db.engine, "before_cursor_execute")
    def _statement(*_args: object) -> None:
        counts.statements += 1

    @event.listens_for(app.db.engine, "commit")
    def _commit(*_args: object) -> None:
        counts.commits += 1

    @event.listens_for(Session, "before_flush")
    def _flush(*_args: object) -> None:
        counts.flushes += 1

    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--plain", type=int, default=200, help="messages per unprofiled run")
    parser.add_argument(
        "--match", default="", help="only functions whose path matches, e.g. postdesk/"
    )
    args = parser.parse_args()
    corpus = generate(args.messages)
    envelope = Envelope("client@bench.example", ("support@bench.example",))
    with tempfile.TemporaryDirectory() as tmp:
        app = bench_app(Path(tmp), args.database_url)
        for raw in generate(20, seed=99):  # warm-up: templates, KB index, connections
            app.accept(raw, envelope)
        counts = instrument(app)
        profile = cProfile.Profile()
        start = time.perf_counter()
        profile.enable()
        for raw in corpus:
            app.accept(raw, envelope)
        profile.disable()
        seconds = time.perf_counter() - start
        measured = (counts.statements, counts.flushes, counts.commits)
        # Then without the profiler, whose own cost hides what the work itself takes.
        plain = []
        for seed in (11, 12, 13):
            batch = generate(args.plain, seed=seed)
            began, cpu = time.perf_counter(), time.process_time()
            for raw in batch:
                app.accept(raw, envelope)
            n = len(batch)
            plain.append(((time.perf_counter() - began) / n, (time.process_time() - cpu) / n))
        app.close()
    n = len(corpus)
    wall, cpu = min(plain)
    print(
        f"unprofiled, the best of 3 x {args.plain} messages: {wall * 1e3:.2f} ms each "
        f"({cpu * 1e3:.2f} ms of CPU)"
    )
    print(
        f"{n} messages: {seconds / n * 1e3:.1f} ms each (profiled); per message "
        f"{measured[0] / n:.1f} statements, {measured[1] / n:.1f} flushes, "
        f"{measured[2] / n:.1f} commits"
    )
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(args.match, args.top)
    print(out.getvalue())


if __name__ == "__main__":
    main()
