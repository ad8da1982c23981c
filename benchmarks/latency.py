"""DATA→250 latency of durable SMTP ingest at 25/50/100 % of the peak rate.

    python benchmarks/latency.py [--messages 400] [--clients 4] [--pg | --database-url URL]

First the bare receive+parse rate (aiosmtpd + postdesk's parser, nothing stored) and the
gateway's peak rate (clients sending as fast as they can, as in ``ingest.py``); then, for
each load level, the clients send fresh mail at that fraction of the peak on a fixed
schedule (open loop) and each message's time from the DATA command to the final 250 is
recorded: the gateway answers 250 only after the blob is fsync'd, the inbox row committed
and the message processed. Prints one table. ``--pg`` uses a fresh database on the local
PostgreSQL (``POSTDESK_TEST_PG_URL``, default ``postgresql://postgres@127.0.0.1:5432/test``).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import smtplib
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.corpus import generate
from benchmarks.ingest import bench_app, bench_bare, blast, fresh_postgres, serve_gateway

LEVELS = (0.25, 0.5, 1.0)
LEAD = 2.0  # seconds between starting the clients and their first message


def _paced_client(port: int, messages: list[bytes], interval: float, start: float) -> list[float]:
    """Send message k at ``start + k*interval`` (or at once when behind); DATA→250 seconds."""
    latencies = []
    with smtplib.SMTP("127.0.0.1", port, timeout=120) as smtp:
        smtp.ehlo()
        for k, raw in enumerate(messages):
            delay = start + k * interval - time.time()
            if delay > 0:
                time.sleep(delay)
            smtp.mail("client@bench.example")
            smtp.rcpt("support@bench.example")
            began = time.perf_counter()
            code, _ = smtp.data(raw)
            latencies.append(time.perf_counter() - began)
            if code != 250:
                raise SystemExit(f"gateway answered {code}")
    return latencies


def paced(port: int, corpus: list[bytes], clients: int, rate: float) -> tuple[float, list[float]]:
    """Send ``corpus`` at ``rate`` msg/s in total; return (achieved rate, latencies)."""
    shares = [corpus[i::clients] for i in range(clients)]
    interval = clients / rate
    # Spawned workers (a fork beside the server's threads can hang); they need time to start.
    with mp.get_context("spawn").Pool(clients) as pool:
        start = time.time() + LEAD
        began = time.perf_counter()
        results = pool.starmap(
            _paced_client,
            [
                (port, share, interval, start + i * interval / clients)
                for i, share in enumerate(shares)
            ],
        )
        seconds = time.perf_counter() - began - LEAD
    return len(corpus) / seconds, [x for r in results for x in r]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run(args: argparse.Namespace, url: str | None, workdir: Path) -> None:
    corpus = generate(args.messages, seed=1)
    bare = bench_bare(corpus, args.clients, workdir).rate
    app = bench_app(workdir, url)
    port, stop_fn = serve_gateway(app)
    try:
        blast([port], generate(40, seed=99), args.clients)  # warm-up: templates, pools, caches
        peak = len(corpus) / blast([port], generate(args.messages, seed=2), args.clients)
        rows = []
        for n, level in enumerate(LEVELS):
            fresh = generate(args.messages, seed=10 + n)
            achieved, lat = paced(port, fresh, args.clients, level * peak)
            rows.append((level, level * peak, achieved, lat))
    finally:
        stop_fn()
        app.close()
    store = "PostgreSQL" if url and url.startswith("postgres") else "SQLite"
    size = sum(len(m) for m in corpus) / len(corpus) / 1024
    print(
        f"{args.messages} messages per run, mean {size:.1f} KiB, {args.clients} clients, "
        f"{store}, {os.cpu_count()} CPUs"
    )
    print(f"bare receive+parse: {bare:7.1f} msg/s")
    print(f"durable ingest peak: {peak:7.1f} msg/s   (ratio {peak / bare:.2f})")
    print(
        f"{'load':>6} {'target/s':>9} {'achieved/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}"
    )
    for level, target, achieved, lat in rows:
        print(
            f"{level:>6.0%} {target:>9.1f} {achieved:>11.1f} {percentile(lat, 50) * 1e3:>8.1f} "
            f"{percentile(lat, 99) * 1e3:>8.1f} {statistics.fmean(lat) * 1e3:>8.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--pg", action="store_true", help="a fresh database on local PostgreSQL")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    args = parser.parse_args()
    url, drop = args.database_url, None
    if args.pg:
        url, drop = fresh_postgres()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run(args, url, Path(tmp))
    finally:
        if drop is not None:
            drop()  # type: ignore[operator]


if __name__ == "__main__":
    main()
