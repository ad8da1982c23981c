"""Messages that arrive together are stored in one transaction (group commit), and a bad one
costs the others nothing: each sender still hears about its own message only."""

from __future__ import annotations

import asyncio
import concurrent.futures
import smtplib
import threading
import time
from collections.abc import Sequence

import pytest
from sqlalchemy import func, select

from postdesk.gateway.accept import Accepted, ProcessingDeferred
from postdesk.gateway.accept_batches import AcceptorStopped, BatchAcceptor
from postdesk.gateway.app import App
from postdesk.gateway.parse_workers import Parsed
from postdesk.gateway.serve import Gateway
from postdesk.inbound.message import Envelope
from postdesk.rules.engine import RuleContext
from postdesk.store.enums import InboxState
from postdesk.store.models import InboxArrival, InboxItem, OutboxItem, Ticket
from tests.gateway.test_accept_transaction import _commits
from tests.support.mail import client_mail

ENVELOPE = Envelope("ana@client.example", ("support@example.com",))


def _mail(n: int, subject: str = "Printer") -> bytes:
    return client_mail(f"Client {n} <c{n}@client.example>", "support@example.com", subject, f"#{n}")


def _count(app: App, model: type, *where: object) -> int:
    with app.db.sessions() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0  # type: ignore[arg-type]


class Gate:
    """``App.accept_many`` whose first call waits until the test lets it go, so that the
    messages submitted meanwhile queue up and form the next batch."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.sizes: list[int] = []
        self.holding = threading.Event()
        self.release = threading.Event()

    def __call__(
        self, messages: Sequence[tuple[bytes, Envelope]], parsed: Sequence[Parsed] = ()
    ) -> list[Accepted | Exception]:
        self.sizes.append(len(messages))
        if len(self.sizes) == 1:
            self.holding.set()
            self.release.wait(30)
        return self.app.accept_many(messages, parsed)


async def _queued_behind_first(
    acceptor: BatchAcceptor, gate: Gate, first: bytes, rest: Sequence[bytes]
) -> list[Accepted | BaseException]:
    """Submit ``first``, wait until it is being accepted, queue ``rest``, then release."""
    tasks = [asyncio.create_task(acceptor.accept(first, ENVELOPE))]
    assert await asyncio.to_thread(gate.holding.wait, 30)
    tasks += [asyncio.create_task(acceptor.accept(raw, ENVELOPE)) for raw in rest]
    while acceptor.queued() < len(rest):
        await asyncio.sleep(0.01)
    gate.release.set()
    return await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
def commits(app: App) -> list[int]:
    return _commits(app)


async def test_messages_that_arrive_together_share_one_commit(app: App, commits: list[int]) -> None:
    gate = Gate(app)
    acceptor = BatchAcceptor(gate, max_batch=16)
    acceptor.start()
    try:
        rest = [_mail(n) for n in (1, 2, 3)]
        results = await _queued_behind_first(acceptor, gate, _mail(0), rest)
    finally:
        acceptor.stop()
    assert gate.sizes == [1, 3] and (acceptor.batches, acceptor.messages) == (2, 4)
    assert len(commits) == 2  # one per batch
    assert all(isinstance(r, Accepted) and r.processed is not None for r in results)
    numbers = [r.processed.ticket_id for r in results]  # type: ignore[union-attr]
    assert len(set(numbers)) == 4
    assert (_count(app, Ticket), _count(app, OutboxItem)) == (4, 4)  # a ticket and an ack each
    assert _count(app, InboxItem, InboxItem.state == InboxState.PROCESSED) == 4


class BrokenFor:
    """Fails on the messages whose subject names it: a bug that only some mail triggers."""

    name = "broken_for"
    description = "fails on one subject"
    events = ("ticket.created",)

    def __init__(self, subject: str) -> None:
        self.subject = subject

    def check(self, ctx: RuleContext) -> str | None:
        return "always"

    def apply(self, ctx: RuleContext) -> None:
        if self.subject in ctx.ticket.subject:
            raise RuntimeError(f"cannot handle {self.subject!r}")


async def test_a_bad_message_in_a_batch_costs_the_others_nothing(
    app: App, commits: list[int]
) -> None:
    app.pipeline.rules = [BrokenFor("Poison"), *app.rules]
    gate = Gate(app)
    acceptor = BatchAcceptor(gate)
    acceptor.start()
    try:
        results = await _queued_behind_first(
            acceptor, gate, _mail(0), [_mail(1), _mail(2, "Poison pill"), _mail(3)]
        )
    finally:
        acceptor.stop()
    assert gate.sizes == [1, 3]
    good = [r for r in results if isinstance(r, Accepted)]
    bad = [r for r in results if not isinstance(r, Accepted)]
    assert len(good) == 3 and all(r.processed is not None for r in good)
    assert len(bad) == 1 and isinstance(bad[0], ProcessingDeferred)  # its sender gets a 451
    assert _count(app, Ticket) == 3
    with app.db.sessions() as s:
        failed = s.scalars(select(InboxItem).where(InboxItem.state == InboxState.FAILED)).one()
    assert failed.attempts == 1 and "cannot handle 'Poison'" in (failed.error or "")
    assert _count(app, InboxItem) == 4  # the bad one is stored too, for a retry


async def test_the_same_bytes_twice_in_one_batch_are_stored_once(app: App) -> None:
    gate = Gate(app)
    acceptor = BatchAcceptor(gate)
    acceptor.start()
    raw = _mail(7)
    try:
        results = await _queued_behind_first(acceptor, gate, _mail(0), [raw, raw])
    finally:
        acceptor.stop()
    assert [r.received.outcome for r in results] == ["new", "new", "redelivery"]  # type: ignore[union-attr]
    assert (_count(app, InboxItem), _count(app, InboxArrival), _count(app, Ticket)) == (2, 1, 2)


async def test_stopping_accepts_what_was_handed_over_and_refuses_the_rest(app: App) -> None:
    gate = Gate(app)
    acceptor = BatchAcceptor(gate)
    acceptor.start()
    first = asyncio.create_task(acceptor.accept(_mail(0), ENVELOPE))
    assert await asyncio.to_thread(gate.holding.wait, 30)
    queued = asyncio.create_task(acceptor.accept(_mail(1), ENVELOPE))
    while acceptor.queued() < 1:
        await asyncio.sleep(0.01)
    stopping = asyncio.create_task(asyncio.to_thread(acceptor.stop))
    while not acceptor.stopping:
        await asyncio.sleep(0.01)
    with pytest.raises(AcceptorStopped):  # a TemporaryFailure: the SMTP handler answers 451
        await acceptor.accept(_mail(2), ENVELOPE)
    gate.release.set()
    await stopping
    assert all(isinstance(t.result(), Accepted) for t in (first, queued))
    assert _count(app, Ticket) == 2


async def test_concurrent_smtp_sessions_all_stored_once(app: App) -> None:
    gw = Gateway(app)
    await gw.start(outbox=False, imap=False)
    port = gw.smtp_port

    def session(n: int) -> list[int]:
        codes = []
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
            smtp.ehlo()
            for k in range(5):
                smtp.mail(f"c{n}@client.example")
                smtp.rcpt("support@example.com")
                codes.append(smtp.data(_mail(100 * n + k))[0])
        return codes

    loop = asyncio.get_running_loop()
    # The clients' own threads: the loop's default executor is the gateway's to use.
    with concurrent.futures.ThreadPoolExecutor(6) as clients:
        try:
            started = time.monotonic()
            codes = await asyncio.gather(
                *(loop.run_in_executor(clients, session, n) for n in range(6))
            )
        finally:
            await gw.stop()
    assert time.monotonic() - started < 120
    assert [c for cs in codes for c in cs] == [250] * 30
    assert (_count(app, InboxItem), _count(app, Ticket), _count(app, OutboxItem)) == (30, 30, 30)
    assert gw.acceptor is not None and gw.acceptor.messages == 30


# The exit this test injects ends the thread as it would in production (where threading
# ignores SystemExit); pytest reports any exception that ends a thread.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
async def test_a_crashing_batch_still_answers_every_sender(app: App) -> None:
    """A fault in the batch machinery itself (not in one message): each sender hears
    "try again" (451) instead of waiting forever; an exit ends the thread after answering."""
    from postdesk.contracts import TemporaryFailure

    calls: list[int] = []

    def faulty(
        messages: Sequence[tuple[bytes, Envelope]], parsed: Sequence[Parsed] = ()
    ) -> list[Accepted | Exception]:
        calls.append(len(messages))
        if len(calls) == 1:
            return app.accept_many(messages)[:0]  # a bug: no outcomes at all
        raise SystemExit("the interpreter is going away")

    acceptor = BatchAcceptor(faulty)
    acceptor.start()
    try:
        with pytest.raises(TemporaryFailure):
            await acceptor.accept(_mail(0), ENVELOPE)
        with pytest.raises(TemporaryFailure):
            await acceptor.accept(_mail(1), ENVELOPE)
        await asyncio.to_thread(acceptor._thread.join, 10)
        assert acceptor.stopping  # the thread is gone: new mail is refused with a 451
        with pytest.raises(AcceptorStopped):
            await acceptor.accept(_mail(2), ENVELOPE)
    finally:
        acceptor.stop()
    assert calls == [1, 1]
