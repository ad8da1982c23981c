"""Two ``postdesk serve`` processes on one PostgreSQL: nothing stored twice, nothing lost.

Real processes, real SMTP, a real IMAP server: the test sends new mail over both listeners,
races identical and different replies to the same tickets through both at once, feeds a
mailbox both processes are configured to poll, then SIGKILLs the process that polls it in the
middle of a batch: the client falls back to the survivor, as an MTA with two MX hosts would,
and the survivor takes the mailbox over (advisory lock) and the killed process's claimed
outbox rows (lease). The capturing relay runs in the test's loop; SMTP clients in threads.

CI runs a reduced size; ``POSTDESK_TEST_FULL=1`` runs the issue's full size (1,000 mails over
SMTP plus 200 through IMAP):

    POSTDESK_TEST_FULL=1 make test PYTEST_ARGS="tests/deploy/test_two_gateways.py -s"
"""

from __future__ import annotations

import asyncio
import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from postdesk.store.db import Database
from postdesk.store.enums import InboxState, OutboxState
from postdesk.store.models import InboxItem, Message, OutboxItem, Ticket
from tests.support.databases import PG_ADMIN_URL, PostgresServer, pg_required
from tests.support.dovecot import Dovecot
from tests.support.imap import append, message
from tests.support.mail import client_mail
from tests.support.relay import Captured, CapturingRelay
from tests.support.settle import drained

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = "support@example.com"
KEY = "two-gateways-shared-secret-0123456789"
FULL = os.environ.get("POSTDESK_TEST_FULL") == "1"
FIRST_BATCH = 600 if FULL else 120  # new mail before the replies
SECOND_BATCH = 400 if FULL else 80  # new mail during which one process is killed
RACED_THREADS = 100 if FULL else 50
KILL_AFTER = 25  # of the second batch
IMAP_MAIL = 200 if FULL else 40  # half before the kill, half after
SETTLE_SECONDS = 240 if FULL else 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def empty_postgres() -> Iterator[str]:
    """A new, empty database: the schema comes from `postdesk db upgrade`, as in production."""
    server = PostgresServer()
    admin = Database(PG_ADMIN_URL)
    try:
        with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{server.name}"'))
    except Exception as exc:
        if pg_required():
            pytest.fail(f"PostgreSQL is required here (CI) but unusable: {exc}")
        pytest.skip(f"PostgreSQL not reachable (set POSTDESK_TEST_PG_URL): {exc}")
    finally:
        admin.dispose()
    yield server.url
    server.drop()


@dataclass
class Proc:
    name: str
    port: int
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None


@dataclass
class Cluster:
    env: dict[str, str]
    workdir: Path
    dovecot: Dovecot
    imap_user: str
    procs: list[Proc] = field(default_factory=list)

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "postdesk", *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def start(self, name: str) -> Proc:
        port = free_port()
        log = self.workdir / f"{name}.log"
        popen = subprocess.Popen(
            [sys.executable, "-m", "postdesk", "serve"],
            env=self.env | {"POSTDESK_SMTP_PORT": str(port)},
            cwd=self.workdir,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        proc = Proc(name, port, popen, log)
        self.procs.append(proc)
        return proc

    def wait_ready(self, proc: Proc, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not proc.alive():
                raise AssertionError(f"{proc.name} exited:\n{proc.log.read_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", proc.port), 1) as s:
                    if s.recv(512).startswith(b"220"):
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"{proc.name} did not listen:\n{proc.log.read_text()[-3000:]}")

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.alive():
                proc.popen.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.popen.wait(15)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()


@pytest.fixture
async def cluster(
    empty_postgres: str, tmp_path: Path, dovecot: Dovecot, imap_user: str
) -> AsyncIterator[tuple[Cluster, CapturingRelay]]:
    relay = await CapturingRelay().start()
    mailboxes = tmp_path / "mailboxes.yaml"
    mailboxes.write_text(
        f"- name: shared\n  host: {dovecot.host}\n  port: {dovecot.port}\n  security: none\n"
        f"  username: {imap_user}\n  password: {dovecot.password}\n"
        f"  support_address: {SUPPORT}\n  backoff_min_seconds: 0.2\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTDESK_")} | {
        "PYTHONPATH": str(ROOT),
        "POSTDESK_DATABASE_URL": empty_postgres,
        # One data dir for both: the raw bytes one process stored may be processed by the other.
        "POSTDESK_DATA_DIR": str(tmp_path / "var"),
        "POSTDESK_SECRET_KEY": KEY,
        "POSTDESK_SUPPORT_ADDRESSES": SUPPORT,
        "POSTDESK_RELAY_URL": f"smtp://127.0.0.1:{relay.port}",
        "POSTDESK_SMTP_HOST": "127.0.0.1",
        "POSTDESK_WEB_PORT": "0",  # each process's admin on a free port
        # Short leases: the survivor takes over the killed process's claimed acks in seconds.
        "POSTDESK_OUTBOX_LEASE_SECONDS": "3",
        "POSTDESK_MAILBOXES_FILE": str(mailboxes),
    }
    c = Cluster(env, tmp_path, dovecot=dovecot, imap_user=imap_user)
    try:
        yield c, relay
    finally:
        await asyncio.to_thread(c.stop_all)
        await relay.stop()


def send(ports: list[int], raw: bytes, mail_from: str, rcpt: str) -> int:
    """Deliver like an MTA with several MX hosts: try each port until one says 250."""
    errors = []
    for _round in range(3):
        for port in ports:
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
                    client.sendmail(mail_from, [rcpt], raw)
                return port
            except (OSError, smtplib.SMTPException) as exc:
                errors.append(f"{port}: {exc!r}")
        time.sleep(0.2)
    raise AssertionError(f"no listener took the message: {errors}")


def client(i: int) -> str:
    return f"client{i}@client{i % 7}.example"


def new_mail(i: int) -> bytes:
    return client_mail(client(i), SUPPORT, f"Problem number {i}", f"Hello, problem {i} here.")


def spread(ports: list[int], i: int) -> tuple[list[int], bytes, str, str]:
    """New mail ``i``, first offered to one listener or the other in turn."""
    return (ports if i % 2 else ports[::-1], new_mail(i), client(i), SUPPORT)


async def send_all(
    jobs: list[tuple[list[int], bytes, str, str]],
    width: int = 8,
    *,
    kill: tuple[int, Proc] | None = None,
) -> list[int]:
    """Send ``width`` at a time; with ``kill=(n, proc)``, SIGKILL proc once n were delivered,
    while the next ones are in flight."""
    limit = asyncio.Semaphore(width)
    done = 0

    async def one(job: tuple[list[int], bytes, str, str]) -> int:
        nonlocal done
        async with limit:
            port = await asyncio.to_thread(send, *job)
        done += 1
        if kill is not None and done == kill[0]:
            kill[1].popen.send_signal(signal.SIGKILL)
        return port

    return await asyncio.gather(*(one(j) for j in jobs))


def acks_by_client(captured: list[Captured]) -> dict[str, Captured]:
    return {c.rcpt_tos[0]: c for c in captured if c.message["Auto-Submitted"] == "auto-replied"}


async def test_two_processes_store_once_thread_once_send_once(
    cluster: tuple[Cluster, CapturingRelay],
) -> None:
    started = time.monotonic()
    c, relay = cluster
    upgrade = c.command("db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    assert "database at revision" in upgrade.stdout
    db = Database(c.env["POSTDESK_DATABASE_URL"])
    # b starts first, so it takes the mailbox's lock; it is the one killed later.
    imap_mail = [message(n, tag="imap") for n in range(IMAP_MAIL)]
    append(c.dovecot, c.imap_user, imap_mail[: IMAP_MAIL // 2])
    b = c.start("b")
    await asyncio.to_thread(c.wait_ready, b)
    await _wait_for_imap(db, IMAP_MAIL // 2, deadline=time.monotonic() + 30)
    a = c.start("a")
    await asyncio.to_thread(c.wait_ready, a)
    both = [a.port, b.port]

    # 1. New mail, alternating between the two listeners.
    used = await send_all([spread(both, i) for i in range(FIRST_BATCH)])
    assert set(used) == set(both), "both listeners must have taken mail"
    acks = await _wait_for_acks(relay, FIRST_BATCH + IMAP_MAIL // 2)

    # 2. Replies racing to the same tickets: the same reply through both listeners at once
    #    (an MTA retrying after a lost 250), and a second, different reply at the same moment.
    jobs = []
    for i in range(RACED_THREADS):
        ack = acks[client(i)].message
        reply_to = str(ack["Reply-To"])
        same = client_mail(client(i), reply_to, "Re: " + str(ack["Subject"]), f"More on {i}.")
        other = client_mail(
            client(i),
            SUPPORT,
            "Re: " + str(ack["Subject"]),
            f"And another thing, {i}.",
            in_reply_to=str(ack["Message-ID"]),
            references=str(ack["Message-ID"]),
        )
        jobs += [
            ([a.port], same, client(i), reply_to),
            ([b.port], same, client(i), reply_to),
            ([b.port, a.port], other, client(i), SUPPORT),
        ]
    await send_all(jobs, width=12)

    # 3. More new mail; one process dies in the middle, the client falls back to the other.
    second = [spread(both, i) for i in range(FIRST_BATCH, FIRST_BATCH + SECOND_BATCH)]
    after = await send_all(second, kill=(KILL_AFTER, b))
    b.popen.wait(10)
    # The kill fell inside the batch: b took some of it before, then only a took mail.
    assert b.port in after[:KILL_AFTER] and after[-20:] == [a.port] * 20, after
    # Mail arriving in the mailbox after the kill: a takes the mailbox over within seconds.
    killed_at = time.monotonic()
    append(c.dovecot, c.imap_user, imap_mail[IMAP_MAIL // 2 :])

    total_new = FIRST_BATCH + SECOND_BATCH + IMAP_MAIL
    try:
        await _wait_for_imap(db, IMAP_MAIL, deadline=killed_at + 30)
        print(f"mailbox taken over: all IMAP mail stored {time.monotonic() - killed_at:.1f} s")
        await drained(db, timeout=SETTLE_SECONDS)
        _check(db, relay, total_new)
    finally:
        db.dispose()
    assert a.alive(), a.log.read_text()[-3000:]
    print(f"two gateways: {total_new} new mails settled in {time.monotonic() - started:.1f} s")


async def _wait_for_acks(relay: CapturingRelay, expected: int) -> dict[str, Captured]:
    """Wait until ``expected`` different clients got their acknowledgement."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while len(acks := acks_by_client(relay.messages)) < expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"only {len(acks)} of {expected} clients got an ack")
        await asyncio.sleep(0.2)
    assert len(acks) == expected
    return acks


async def _wait_for_imap(db: Database, expected: int, deadline: float) -> None:
    """Wait until ``expected`` messages from the shared mailbox are stored."""
    while True:
        with db.sessions() as s:
            stored = s.scalar(
                select(func.count()).select_from(InboxItem).where(InboxItem.source == "imap:shared")
            )
        if stored == expected:
            return
        assert stored is not None and stored < expected, f"{stored} IMAP rows, {expected} sent"
        if time.monotonic() > deadline:
            raise AssertionError(f"only {stored} of {expected} IMAP messages stored")
        await asyncio.sleep(0.2)


def _check(db: Database, relay: CapturingRelay, total_new: int) -> None:
    with db.sessions() as s:
        ticket_ids = list(s.scalars(select(Ticket.id)))
        inbound = list(
            s.execute(
                select(Message.message_id, Message.ticket_id).where(Message.direction == "in")
            )
        )
        acks = list(
            s.execute(
                select(OutboxItem.ticket_id, OutboxItem.message_id, OutboxItem.state).where(
                    OutboxItem.kind == "ack"
                )
            )
        )
        failed = s.scalar(
            select(func.count()).select_from(InboxItem).where(InboxItem.state == InboxState.FAILED)
        )
    # Every message stored exactly once: new mail, the raced identical reply, the other reply.
    counts = Counter(m for m, _ in inbound)
    assert max(counts.values()) == 1, [m for m, n in counts.items() if n > 1]
    assert len(inbound) == total_new + 2 * RACED_THREADS
    assert failed == 0
    # One ticket per thread: the two replies of each raced thread are on its first ticket.
    assert len(ticket_ids) == total_new
    per_ticket = Counter(t for _, t in inbound)
    assert sorted(per_ticket.values()) == [1] * (total_new - RACED_THREADS) + [3] * RACED_THREADS
    # Exactly one ack per ticket in the outbox, and each sent at most once on the relay.
    # (Ticket ids may have gaps: the killed process's open transaction used a sequence value.)
    assert Counter(t for t, _, _ in acks) == Counter(ticket_ids)
    relayed = Counter(str(m.message["Message-ID"]).strip("<>") for m in relay.messages)
    # At-least-once: a row the killed process handed to the relay but had not yet recorded as
    # sent goes out again from the survivor after the lease — at most one claimed batch of
    # them, each twice at most, with the same Message-ID (mail clients show it once).
    resent = [m for m, n in relayed.items() if n > 1]
    assert max(relayed.values()) <= 2 and len(resent) <= 20, resent
    sent = {m for _, m, state in acks if state == OutboxState.SENT}
    assert sent <= set(relayed), "marked sent but the relay never got it"
    relayed_acks = {
        str(m.message["Message-ID"]).strip("<>")
        for m in relay.messages
        if m.message["Auto-Submitted"] == "auto-replied"
    }
    assert sent <= relayed_acks
    print(f"relayed acks: {len(relayed_acks)}, resent after a lease: {len(resent)}")
    # Once the killed process's leases ran out, the survivor sent everything.
    assert {m for _, m, state in acks if state != OutboxState.SENT} == set()
