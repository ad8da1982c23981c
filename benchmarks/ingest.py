"""End-to-end durable SMTP ingest versus a bare aiosmtpd receiver that only parses.

  python benchmarks/ingest.py [--messages 600] [--clients 4] [--rounds 3] [--pg | --database-url U]

Both runs receive the same generated corpus over loopback SMTP from the same client
processes. The bare receiver parses each message (postdesk's parser) and keeps nothing;
the gateway stores it durably (fsync'd blob + committed inbox row), parses, threads,
stores the ticket and message, runs the rules and commits the acknowledgement to the
outbox before answering 250. Each first takes 40 other messages, not timed (the gateway
compiles its statements and templates on first use). The two take turns, ``--rounds``
times (each gateway round on a fresh store), so a machine whose speed drifts affects both
alike; prints messages/second of each round, the ratio of each pair and the median ratio,
and beside them the server's CPU time per message (this process; the clients are others)
and the ratio of those, which the machine's drift moves less.
``--pg`` gives each round a new database on the local PostgreSQL; ``--database-url`` names
an empty database (one round).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import smtplib
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiosmtpd.smtp import SMTP

from benchmarks.corpus import generate
from postdesk.gateway.app import App
from postdesk.gateway.serve import Gateway
from postdesk.gateway.settings import Settings
from postdesk.inbound.parse import parse_message
from postdesk.store import migrate
from postdesk.store.blobs import FileBlobStore
from postdesk.store.db import Database


def _client(port: int, messages: list[bytes], ready: Any) -> None:
    ready.wait()
    with smtplib.SMTP("127.0.0.1", port, timeout=120) as smtp:
        for raw in messages:
            smtp.sendmail("client@bench.example", ["support@bench.example"], raw)


@dataclass(frozen=True)
class Run:
    rate: float  # messages per second
    cpu_ms: float  # CPU time of this process (the server's threads) per message


def measured(ports: list[int], corpus: list[bytes], clients: int) -> Run:
    """``blast``, with the CPU time this process (the server under test: the clients are
    other processes) spent meanwhile: where the rate is bound by one interpreter, the ratio
    of two runs' CPU per message says the same as their rates, with less of the noise."""
    cpu = time.process_time()
    seconds = blast(ports, corpus, clients)
    return Run(len(corpus) / seconds, (time.process_time() - cpu) / len(corpus) * 1e3)


def blast(
    ports: list[int],
    corpus: list[bytes],
    clients: int,
    mark: Callable[[], None] | None = None,
) -> float:
    """Send the corpus from ``clients`` processes spread over ``ports``; return wall seconds.

    The clients are spawned, not forked: a fork while the server threads hold locks left a
    client hanging. They start sending together once all are up, so start-up is not timed.
    ``mark`` is called where the timing starts and where it ends.
    """
    ctx = mp.get_context("spawn")
    ready = ctx.Barrier(clients + 1)
    shares = [corpus[i::clients] for i in range(clients)]
    procs = [
        ctx.Process(target=_client, args=(ports[i % len(ports)], share, ready))
        for i, share in enumerate(shares)
    ]
    for p in procs:
        p.start()
    ready.wait(timeout=120)
    if mark is not None:
        mark()
    start = time.perf_counter()
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise SystemExit(f"a client failed (exit {p.exitcode})")
    seconds = time.perf_counter() - start
    if mark is not None:
        mark()
    return seconds


class ParseOnly:
    def __init__(self, blobs: FileBlobStore) -> None:
        self.blobs = blobs
        self.count = 0

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        await asyncio.to_thread(parse_message, envelope.original_content, self.blobs)
        self.count += 1
        return "250 OK"


def in_loop_thread(start_coro, stop_coro):  # type: ignore[no-untyped-def]
    """Run a server in its own event loop thread; return (port, stop function)."""
    loop = asyncio.new_event_loop()
    ready: dict = {}
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        ready["port"] = loop.run_until_complete(start_coro())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait()

    def stop() -> None:
        asyncio.run_coroutine_threadsafe(stop_coro(), loop).result(timeout=60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()

    return ready["port"], stop


WARM_UP = generate(40, seed=99)  # sent before the timed run: compiled statements, templates


def bench_bare(corpus: list[bytes], clients: int, workdir: Path) -> Run:
    handler = ParseOnly(FileBlobStore(workdir / "bare-blobs"))
    holder: dict = {}

    async def start() -> int:
        loop = asyncio.get_running_loop()
        holder["server"] = await loop.create_server(
            lambda: SMTP(handler, decode_data=False, loop=loop), "127.0.0.1", 0
        )
        return holder["server"].sockets[0].getsockname()[1]

    async def stop() -> None:
        holder["server"].close()
        await holder["server"].wait_closed()

    port, stop_fn = in_loop_thread(start, stop)
    blast([port], WARM_UP, clients)
    run = measured([port], corpus, clients)
    stop_fn()
    assert handler.count == len(WARM_UP) + len(corpus), handler.count
    return run


def bench_app(workdir: Path, url: str | None) -> App:
    """The gateway under test on a migrated store (the tables first: App reads them)."""
    settings = Settings(
        data_dir=workdir / "var",
        database_url=url,
        smtp_port=0,
        support_addresses=["support@bench.example"],
        secret_key="bench-key",
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    schema = Database(settings.resolved_database_url)
    migrate.upgrade(schema)
    schema.dispose()
    return App(settings)


def serve_gateway(app: App, started: list[Gateway] | None = None) -> tuple[int, Callable[[], None]]:
    """The gateway's SMTP listener for ``app`` (no outbox worker) in a loop thread of its
    own; its port and the function that stops it (``started`` gets the gateway)."""
    holder: dict[str, Gateway] = {}

    async def start() -> int:
        gateway = holder["gw"] = Gateway(app)
        await gateway.start(outbox=False, imap=False)
        if gateway.parse_workers is not None:  # they start in the background: wait for them
            await asyncio.to_thread(gateway.parse_workers.started, 60)
        if started is not None:
            started.append(gateway)
        return gateway.smtp_port

    async def stop() -> None:
        await holder["gw"].stop()

    return in_loop_thread(start, stop)  # type: ignore[no-any-return]


def bench_gateway(corpus: list[bytes], clients: int, workdir: Path, url: str | None) -> Run:
    app = bench_app(workdir, url)

    from sqlalchemy import func, select

    from postdesk.store.models import InboxItem

    def inbox_rows() -> int:
        with app.db.sessions() as s:
            return int(s.scalar(select(func.count()).select_from(InboxItem)) or 0)

    port, stop_fn = serve_gateway(app)
    blast([port], WARM_UP, clients)
    before = inbox_rows()  # a prefilled store (benchmarks/large_store.py) is not empty
    run = measured([port], corpus, clients)
    stop_fn()
    stored = inbox_rows() - before
    app.close()
    assert stored == len(corpus), f"stored {stored} of {len(corpus)}"
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--pg", action="store_true", help="a fresh database on local PostgreSQL for each round"
    )
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    args = parser.parse_args()
    if args.database_url and args.rounds > 1:
        parser.error("--database-url is used as it is, for one round (--pg: a new one each)")
    corpus = generate(args.messages)
    size = sum(len(m) for m in corpus) / len(corpus)
    store = "PostgreSQL" if args.pg or args.database_url else "SQLite"
    print(
        f"corpus: {len(corpus)} messages, mean {size / 1024:.1f} KiB, {args.clients} clients, "
        f"{store}, {os.cpu_count()} CPUs"
    )
    print(
        f"{'round':>5} {'bare msg/s':>11} {'durable msg/s':>14} {'ratio':>6}"
        f" {'bare CPU ms':>12} {'durable CPU ms':>15} {'CPU ratio':>10}"
    )
    ratios, cpu_ratios = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(1, args.rounds + 1):
            bare = bench_bare(corpus, args.clients, Path(tmp) / f"bare-{n}")
            url, drop = fresh_postgres() if args.pg else (args.database_url, None)
            try:
                full = bench_gateway(corpus, args.clients, Path(tmp) / f"gateway-{n}", url)
            finally:
                if drop is not None:
                    drop()
            ratios.append(full.rate / bare.rate)
            cpu_ratios.append(bare.cpu_ms / full.cpu_ms)
            print(
                f"{n:>5} {bare.rate:>11.1f} {full.rate:>14.1f} {ratios[-1]:>6.2f}"
                f" {bare.cpu_ms:>12.2f} {full.cpu_ms:>15.2f} {cpu_ratios[-1]:>10.2f}",
                flush=True,
            )
    print(
        f"median ratio: {statistics.median(ratios):.2f} "
        f"(of CPU per message, bare/durable: {statistics.median(cpu_ratios):.2f})"
    )


def fresh_postgres() -> tuple[str, Callable[[], None]]:
    """A new empty database on the local PostgreSQL (``POSTDESK_TEST_PG_URL``, default
    ``postgresql://postgres@127.0.0.1:5432/test``) and the function that drops it."""
    from sqlalchemy import text

    admin_url = os.environ.get("POSTDESK_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
    name = f"postdesk_bench_{uuid.uuid4().hex[:8]}"
    admin = Database(admin_url)
    with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return f"{admin_url.rpartition('/')[0]}/{name}", drop


if __name__ == "__main__":
    main()
