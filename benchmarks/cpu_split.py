"""Who uses the CPU during durable SMTP ingest: the gateway, its parser, the database, clients.

  python benchmarks/cpu_split.py [--messages 1500] [--clients 4] [--pg | --database-url U]

The same gateway and load as ``benchmarks/ingest.py``. Around the timed delivery it reads
every process's CPU time from ``/proc`` (Linux) and prints, per group, the share of one
core and the milliseconds per message: this process (the gateway), its parser processes
(children of the multiprocessing forkserver), PostgreSQL's processes (backends and WAL
writer alike), the client processes, and the rest of the machine. What the cores are
left with says whether a run is bound by them or by waiting. Last, the gateway's acceptor
thread (``gateway/accept_batches.py``): the share of the run it spent accepting batches,
and per message its time and its CPU time (the rest it waited: for PostgreSQL, the GIL).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.corpus import generate
from benchmarks.ingest import WARM_UP, bench_app, blast, fresh_postgres, serve_gateway
from postdesk.gateway.serve import Gateway

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_by_process() -> dict[int, tuple[int, str]]:
    """pid -> (user + system ticks, command line) for every process readable now."""
    found: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # it ended meanwhile
        fields = stat.rsplit(")", 1)[1].split()
        found[int(entry)] = (int(fields[11]) + int(fields[12]), cmdline or stat)
    return found


def waited_children() -> int:
    """CPU ticks of this process's children that have ended and been waited for."""
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[13]) + int(fields[14])


def group(pid: int, cmdline: str) -> str:
    if pid == os.getpid():
        return "gateway (this process)"
    if "forkserver" in cmdline:
        return "parser (forkserver and its workers)"
    if "postgres" in cmdline:
        return "PostgreSQL"
    return "rest of the machine"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1500)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--pg", action="store_true", help="a fresh database on local PostgreSQL")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    args = parser.parse_args()
    corpus = generate(args.messages)
    url, drop = fresh_postgres() if args.pg else (args.database_url, None)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            app = bench_app(Path(tmp), url)
            gateways: list[Gateway] = []
            port, stop_fn = serve_gateway(app, gateways)
            acceptor = gateways[0].acceptor
            assert acceptor is not None
            blast([port], WARM_UP, args.clients)
            marks: list[tuple[float, dict[int, tuple[int, str]], int]] = []
            accepted: list[tuple[int, int, float, float]] = []

            def mark() -> None:
                marks.append((time.perf_counter(), cpu_by_process(), waited_children()))
                accepted.append(
                    (
                        acceptor.messages,
                        acceptor.batches,
                        acceptor.busy_seconds,
                        acceptor.cpu_seconds,
                    )
                )

            seconds = blast([port], corpus, args.clients, mark)
            stop_fn()
            app.close()
    finally:
        if drop is not None:
            drop()
    (began, before, children_before), (ended, after, children_after) = marks
    wall = ended - began
    used: Counter[str] = Counter()
    for pid, (ticks, cmdline) in after.items():
        used[group(pid, cmdline)] += ticks - before.get(pid, (0, ""))[0]
    # The clients end within the window: their CPU is in this process's children's times
    # once they have been waited for, less what they had used when the timing began.
    ended_clients = [t for pid, (t, c) in before.items() if pid not in after and "spawn" in c]
    used["clients"] = children_after - children_before - sum(ended_clients)
    n = len(corpus)
    print(
        f"{n} messages in {seconds:.1f} s: {n / seconds:.1f} msg/s, {os.cpu_count()} CPUs, "
        f"{'PostgreSQL' if url else 'SQLite'}"
    )
    print(f"{'':38} {'% of a core':>12} {'ms/message':>11}")
    total = 0.0
    for name, ticks in used.most_common():
        if ticks <= 0:
            continue
        seconds_used = ticks / TICKS
        total += seconds_used
        print(f"{name:38} {seconds_used / wall * 100:>12.1f} {seconds_used / n * 1e3:>11.2f}")
    print(f"{'all':38} {total / wall * 100:>12.1f} {total / n * 1e3:>11.2f}")
    messages, batches, busy, cpu = (b - a for a, b in zip(*accepted, strict=True))
    print(
        f"acceptor thread: busy {busy / wall * 100:.0f} % of the run, {messages / batches:.2f} "
        f"messages a batch; per message {busy / messages * 1e3:.2f} ms, "
        f"of it CPU {cpu / messages * 1e3:.2f} ms"
    )


if __name__ == "__main__":
    main()
