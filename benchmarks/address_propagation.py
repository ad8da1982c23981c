"""How soon a support address added in one process is served by another, and what the RCPT
check costs with the database-backed, TTL-cached address set.

    python benchmarks/address_propagation.py [--trials 8] [--rcpts 2000] [--pg | --database-url URL]

A gateway (SMTP listener) runs in this process; a second ``App`` on the same database stands
for another process (the admin). Each trial adds a fresh address through the second App and
polls RCPT TO on the gateway until it answers 250. Then one SMTP session issues ``--rcpts``
RCPT commands for served and unknown addresses. Prints one small table.
"""

from __future__ import annotations

import argparse
import asyncio
import smtplib
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from postdesk.gateway.app import App
from postdesk.gateway.serve import Gateway
from postdesk.gateway.settings import Settings
from postdesk.gateway.support_addresses import TTL_SECONDS
from postdesk.store import migrate
from postdesk.store.db import Database
from postdesk.store.runtime_models import SupportAddressRow

PG = "postgresql://postgres@127.0.0.1:5432/test"


def _database(args: argparse.Namespace, tmp: Path) -> str:
    if args.database_url:
        return args.database_url
    if not args.pg:
        return f"sqlite:///{tmp / 'bench.sqlite3'}"
    from sqlalchemy import text

    name = f"postdesk_bench_{uuid.uuid4().hex[:8]}"
    admin = Database(PG)
    with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG.rpartition("/")[0] + f"/{name}"


def _drop(url: str) -> None:
    from sqlalchemy import text

    admin = Database(PG)
    with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rpartition("/")[2]}" WITH (FORCE)'))
    admin.dispose()


def _rcpt(port: int, address: str) -> int:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo("client.example")
        smtp.mail("bench@client.example")
        code, _ = smtp.rcpt(address)
        return code


def _propagation(port: int, other: App, trials: int) -> list[float]:
    delays = []
    for n in range(trials):
        address = f"added{n}-{uuid.uuid4().hex[:6]}@bench.example"
        with other.db.transaction() as s:
            s.add(SupportAddressRow(address=address, display_name=""))
        start = time.monotonic()
        while _rcpt(port, address) != 250:
            time.sleep(0.02)
        delays.append(time.monotonic() - start)
        time.sleep(0.37 * (n % 3))  # spread the additions over the cache's phase
    return delays


def _rcpt_rate(port: int, count: int) -> tuple[float, int]:
    refused = 0
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo("client.example")
        smtp.mail("bench@client.example")
        start = time.monotonic()
        for n in range(count):
            code, _ = smtp.rcpt("support@bench.example" if n % 2 else f"x{n}@bench.example")
            refused += code == 550
            assert code in (250, 550), code
        took = time.monotonic() - start
    return count / took, refused


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = _database(args, Path(tmp))
        settings = Settings(
            data_dir=Path(tmp) / "var",
            database_url=url,
            support_addresses=["support@bench.example"],
            smtp_port=0,
            secret_key="bench-secret-key-0123456789",
        )
        db = Database(url)
        migrate.upgrade(db)
        db.dispose()
        app, other = App(settings), App(settings)
        gateway = Gateway(app)
        await gateway.start(outbox=False, imap=False)
        try:
            delays = await asyncio.to_thread(_propagation, gateway.smtp_port, other, args.trials)
            rate, refused = await asyncio.to_thread(_rcpt_rate, gateway.smtp_port, args.rcpts)
        finally:
            await gateway.stop()
            app.close()
            other.close()
            if args.pg and not args.database_url:
                _drop(url)
    print(
        f"database: {'PostgreSQL' if url.startswith('postgres') else 'SQLite'}, TTL {TTL_SECONDS}s"
    )
    print(f"address visible to the other process after (s), {len(delays)} trials:")
    print(f"  median {statistics.median(delays):.2f}  max {max(delays):.2f}  min {min(delays):.2f}")
    print(f"RCPT TO in one session: {rate:,.0f}/s ({refused} of {args.rcpts} refused with 550)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--rcpts", type=int, default=2000)
    parser.add_argument("--pg", action="store_true")
    parser.add_argument("--database-url")
    asyncio.run(main(parser.parse_args()))
