"""Time to drain N messages from a real Dovecot into postdesk's durable receive.

    python benchmarks/imap_drain.py [--messages 2000] [--batch 50] [--process]

Starts Dovecot on loopback (needs the `dovecot` binary), appends N generated messages,
then runs one mailbox sync: fetch with BODY.PEEK[], durable receive (blob + committed
inbox row), flag on the server, advance the cursor. With --process, the ingest pipeline
then turns every row into a ticket, timed separately.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.corpus import generate
from postdesk.gateway.app import App
from postdesk.gateway.settings import Settings
from postdesk.inbound.imap.config import MailboxConfig
from postdesk.inbound.imap.connection import connect
from postdesk.inbound.imap.worker import MailboxWorker
from postdesk.store import migrate
from tests.support.dovecot import Dovecot, free_port
from tests.support.imap import append


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--process", action="store_true")
    args = parser.parse_args()
    binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
    root = Path(tempfile.mkdtemp(prefix="postdesk-bench-dovecot-"))
    server = Dovecot(root, free_port(), binary)
    server.start()
    try:
        corpus = [
            m.replace(b"support@bench.example", b"support@example.com")
            for m in generate(args.messages)
        ]
        append(server, server.user, corpus)
        with tempfile.TemporaryDirectory() as tmp:
            app = App(
                Settings(
                    data_dir=Path(tmp),
                    support_addresses=["support@example.com"],
                    secret_key="bench",
                )
            )
            migrate.upgrade(app.db)
            cfg = MailboxConfig(
                name="bench",
                host=server.host,
                port=server.port,
                security="none",
                username=server.user,
                password=server.password,
                support_address="support@example.com",
                batch_size=args.batch,
            )
            worker = MailboxWorker(cfg, app.db, app.blobs)
            client = connect(cfg)
            start = time.perf_counter()
            counts = worker.sync(client)
            seconds = time.perf_counter() - start
            client.logout()
            print(
                f"drained {counts.new} new messages in {seconds:.2f} s: "
                f"{counts.new / seconds:.0f} msg/s (batch {args.batch}, SQLite)"
            )
            if args.process:
                start = time.perf_counter()
                results = app.pipeline.process_pending(limit=args.messages)
                seconds = time.perf_counter() - start
                print(
                    f"processed {len(results)} into tickets in {seconds:.2f} s: "
                    f"{len(results) / seconds:.0f} msg/s"
                )
            app.close()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
