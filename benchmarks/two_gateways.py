"""Ingest rate of one versus two ``postdesk serve`` processes on one PostgreSQL.

    python benchmarks/two_gateways.py [--messages 600] [--clients 4] [--admin-url URL]

Each run gets a fresh database (created on the server behind ``--admin-url``, migrated with
``postdesk db upgrade``), a fresh shared data dir, and the same generated corpus sent over
loopback SMTP by ``--clients`` processes spread evenly over the listeners. A message counts
when the gateway answered 250, i.e. after it stored, threaded and committed the ticket and
its acknowledgement. Outgoing mail goes to the Maildir sink (no relay). Prints msg/s for
one and two processes and their ratio; on a 2-core machine clients and gateways share CPUs,
so the ratio there says more about contention than about scaling.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from benchmarks.corpus import generate  # noqa: E402
from benchmarks.ingest import blast  # noqa: E402
from postdesk.store.db import Database  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gateway on {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), 1) as s:
                if s.recv(512).startswith(b"220"):
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"gateway on {port} did not start")


def run(processes: int, corpus: list[bytes], clients: int, admin_url: str) -> float:
    """Messages per second with ``processes`` gateways on a fresh database."""
    name = f"postdesk_bench_{uuid.uuid4().hex[:8]}"
    admin = Database(admin_url)
    with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{admin_url.rpartition('/')[0]}/{name}"
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("POSTDESK_")} | {
            "PYTHONPATH": str(ROOT),
            "POSTDESK_DATABASE_URL": url,
            "POSTDESK_DATA_DIR": str(Path(tmp) / "var"),
            "POSTDESK_SECRET_KEY": "benchmark-key-0123456789",
            "POSTDESK_SUPPORT_ADDRESSES": "support@bench.example",
            "POSTDESK_WEB_ENABLED": "false",  # SMTP ingest is measured
        }
        cmd = [sys.executable, "-m", "postdesk"]
        subprocess.run([*cmd, "db", "upgrade"], env=env, check=True, capture_output=True)
        ports = [free_port() for _ in range(processes)]
        try:
            for port in ports:
                procs.append(
                    subprocess.Popen(
                        [*cmd, "serve"],
                        env=env | {"POSTDESK_SMTP_PORT": str(port)},
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            for port, proc in zip(ports, procs, strict=True):
                wait_listening(port, proc)
            elapsed = blast(ports, corpus, clients)
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(30)
            with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    return len(corpus) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("POSTDESK_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="a database on the server where throwaway benchmark databases are created",
    )
    args = parser.parse_args()
    corpus = generate(args.messages)
    one = run(1, corpus, args.clients, args.admin_url)
    two = run(2, corpus, args.clients, args.admin_url)
    print(f"{args.messages} messages, {args.clients} clients, {os.cpu_count()} CPUs")
    print(f"one process:   {one:7.1f} msg/s")
    print(f"two processes: {two:7.1f} msg/s  ({two / one:.2f} x one)")


if __name__ == "__main__":
    main()
