"""SMTP mail parsed in a worker process: the same result as parsing in the acceptor, and a
worker that fails or dies costs only time."""

from __future__ import annotations

import asyncio
import hashlib
import os
import pickle
import signal
import subprocess
import threading
import time
from concurrent.futures import Future
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from postdesk.gateway.app import App
from postdesk.gateway.parse_workers import (
    MAX_WORKER_BYTES,
    ParseWorkers,
    Understood,
    WorkerGone,
    job_fits,
    understand,
)
from postdesk.gateway.parser_process import _answer
from postdesk.gateway.serve import Gateway
from postdesk.inbound.message import Envelope
from postdesk.store.enums import InboxState
from postdesk.store.models import InboxItem, Ticket
from tests.conftest import CORPUS
from tests.support import with_settings
from tests.support.mail import client_mail, smtp_send

ENVELOPE = Envelope("ana@client.example", ("support@example.com",))


def _samples() -> list[bytes]:
    """Our own kinds of mail, and the first messages of each corpus folder when it is there
    (bounces, auto-replies, HTML, TNEF: what parsing and classifying differ on)."""
    ours = [
        client_mail("Ana <ana@client.example>", "support@example.com", "Printer", "Jammed."),
        client_mail(
            "Bo <bo@client.example>",
            "support@example.com",
            "Re: [#12] Printer",
            "Still jammed.\n\nOn Monday, Support wrote:\n> What model?",
        ),
    ]
    found = sorted(CORPUS.rglob("*.eml"))
    corpus = found[:: max(1, len(found) // 60)]  # about 60, from every project
    return ours + [p.read_bytes() for p in corpus if p.stat().st_size <= MAX_WORKER_BYTES]


def test_a_worker_parses_and_classifies_as_the_acceptor_does(app: App) -> None:
    keys = app.pipeline.keys
    workers = ParseWorkers(app.settings.blob_dir, keys, 1)
    try:
        assert workers.started(60)  # until then, submit leaves each message to the caller
        samples = _samples()
        for start in range(0, len(samples), 8):  # several in flight at once
            group = samples[start : start + 8]
            jobs = [workers.submit(raw, "sender@client.example") for raw in group]
            # Asked for last first: the answers before it are read on the way and kept.
            for raw, job in reversed(list(zip(group, jobs, strict=True))):
                assert job is not None
                there = job.result()
                sha = hashlib.sha256(raw).hexdigest()
                here = understand(app.blobs, keys, raw, "sender@client.example", sha)
                assert there == here
        pids = workers.pids()
        assert pids and os.getpid() not in pids  # it ran elsewhere
    finally:
        workers.close()


def _mail(n: int, size: int = 100) -> bytes:
    return client_mail(
        f"Client {n} <c{n}@client.example>", "support@example.com", f"Case {n}", "x" * size
    )


@pytest.mark.parametrize("size", [200_000, 2_100, 300])
def test_a_full_pipe_leaves_the_message_to_the_caller_at_once(app: App, size: int) -> None:
    """The event loop hands messages over: it must never wait for a busy worker, whatever
    the messages' size (a pipe fills by pages: small jobs fill it long before their bytes
    do). The submissions run in a thread, so that one that waits fails the test."""
    workers = ParseWorkers(app.settings.blob_dir, app.pipeline.keys, 1)
    try:
        assert workers.started(60)
        [pid] = workers.pids()
        os.kill(pid, signal.SIGSTOP)  # a worker that reads nothing for now
        jobs: list[tuple[int, Any]] = []

        def submit_until_refused() -> None:
            for n in range(2000):
                job = workers.submit(_mail(n, size), "c@client.example")
                if job is None:
                    return
                jobs.append((n, job))

        try:
            submitting = threading.Thread(target=submit_until_refused, daemon=True)
            submitting.start()
            submitting.join(20)
            assert not submitting.is_alive(), f"submit waited, after {len(jobs)} jobs"
            assert 1 <= len(jobs) < 2000  # some went in, then no more
        finally:
            os.kill(pid, signal.SIGCONT)
        for n, job in jobs:
            assert job.result().inbound.subject == f"Case {n}"
        assert workers.submit(_mail(99), "c@client.example") is not None  # room again
    finally:
        workers.close()


def test_job_fits_counts_a_pipe_in_pages() -> None:
    page, capacity = 4096, 16 * 4096
    assert job_fits(0, 0, 2_100, capacity, page)
    # Each unanswered job may hold up to three part-filled pages, whatever its bytes.
    assert job_fits(3 * 2_200, 3, 2_100, capacity, page)  # 2 + 9, and 1 + 3 more: 15
    assert not job_fits(4 * 2_200, 4, 2_100, capacity, page)  # 3 + 12, and 1 + 3 more: 19
    assert not job_fits(0, 0, capacity, capacity, page)  # never a job as large as the pipe


def test_closing_with_answers_nobody_read_ends_the_worker(app: App) -> None:
    workers = ParseWorkers(app.settings.blob_dir, app.pipeline.keys, 1)
    assert workers.started(60)
    [pid] = workers.pids()
    jobs = [workers.submit(_mail(n, 20_000), "c@client.example") for n in range(20)]
    assert all(job is not None for job in jobs)
    began = time.monotonic()
    workers.close(timeout=10)
    assert time.monotonic() - began < 10
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    for job in jobs:  # nobody waits for them now, and nobody could
        assert job is not None
        with pytest.raises(WorkerGone, match="closed"):
            job.result()


def test_jobs_of_a_killed_worker_fail_instead_of_waiting(app: App) -> None:
    workers = ParseWorkers(app.settings.blob_dir, app.pipeline.keys, 1)
    try:
        assert workers.started(60)
        [pid] = workers.pids()
        os.kill(pid, signal.SIGSTOP)
        jobs = [workers.submit(_mail(n), "c@client.example") for n in range(3)]
        os.kill(pid, signal.SIGKILL)
        for job in jobs:
            assert job is not None
            with pytest.raises(WorkerGone, match="ended"):
                job.result()
        assert workers.submit(_mail(4), "c@client.example") is None  # it is being replaced
        assert workers.started(60)
        job = workers.submit(_mail(5), "c@client.example")
        assert job is not None and job.result().inbound.subject == "Case 5"
        assert pid not in workers.pids()
    finally:
        workers.close()


def test_a_parse_that_fails_in_the_worker_is_answered_with_its_error(app: App) -> None:
    class FullDisk:
        def put(self, data: bytes) -> str:
            raise OSError(28, "No space left on device")

        def put_stream(self, chunks: object) -> tuple[str, int]:
            raise OSError(28, "No space left on device")

        def __getattr__(self, name: str) -> object:
            return getattr(app.blobs, name)

    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "ana@client.example", "support@example.com", "Log"
    mail.set_content("See attached.")
    mail.add_attachment(os.urandom(50_000), "application", "octet-stream", filename="log.bin")
    answer = _answer(7, FullDisk(), app.pipeline.keys, mail.as_bytes(), "ana@client.example")  # type: ignore[arg-type]
    seq, value, error = pickle.loads(answer)
    assert (seq, value) == (7, None)
    assert error is not None and "No space left" in error


def test_large_mail_and_a_closed_pool_are_left_to_the_caller(app: App) -> None:
    workers = ParseWorkers(app.settings.blob_dir, app.pipeline.keys, 1)
    big = client_mail(
        "Ana <ana@client.example>", "support@example.com", "Log", "x" * MAX_WORKER_BYTES
    )
    assert workers.submit(big, "ana@client.example") is None
    workers.close()
    small = client_mail("Ana <ana@client.example>", "support@example.com", "Hi", "Hello")
    assert workers.submit(small, "ana@client.example") is None


def test_a_failed_parse_elsewhere_is_parsed_again_here(app: App) -> None:
    """Whatever a worker's future holds (an error, a broken pool), the message is parsed in
    the acceptor and stored as usual."""
    failed: Future[Understood] = Future()
    failed.set_exception(RuntimeError("worker went away"))
    raw = client_mail("Ana <ana@client.example>", "support@example.com", "Printer", "Jammed.")
    [(received, processed)] = app.pipeline.receive_and_process_many([(raw, ENVELOPE)], [failed])
    assert received.outcome == "new"
    assert processed is not None and processed.action == "new"
    with app.db.sessions() as s:
        row = s.get(InboxItem, received.inbox_id)
        assert row is not None and row.state == InboxState.PROCESSED


def test_workers_that_cannot_live_are_given_up(app: App, caplog: pytest.LogCaptureFixture) -> None:
    """Workers that end at once (here: the process they belong to has gone) are replaced;
    after a few the gateway stops trying and parses everything itself."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    workers = ParseWorkers(app.settings.blob_dir, app.pipeline.keys, 1, gateway=gone.pid)
    raw = client_mail("Ana <ana@client.example>", "support@example.com", "Printer", "Jammed.")
    try:
        deadline = time.monotonic() + 60
        while "from now on" not in caplog.text and time.monotonic() < deadline:
            workers.started(30)  # each new worker has tried to start
            job = workers.submit(raw, "ana@client.example")
            if job is not None:
                with pytest.raises(WorkerGone):
                    job.result()  # nothing is parsed there
        assert "parsing in the gateway from now on" in caplog.text
        assert workers.submit(raw, "ana@client.example") is None  # and it stays so
        assert workers.pids() == set()
    finally:
        workers.close()


async def test_a_killed_worker_costs_only_time(app: App, tmp_path: Path) -> None:
    app.settings = with_settings(app.settings, parse_workers=1)
    gw = Gateway(app)
    await gw.start(outbox=False, imap=False)
    try:
        assert gw.parse_workers is not None
        assert gw.parse_workers.started(60)

        def send(n: int) -> None:
            raw = client_mail(
                f"Client {n} <c{n}@client.example>", "support@example.com", f"Case {n}", "Help"
            )
            smtp_send(gw.smtp_port, raw, f"c{n}@client.example", ["support@example.com"])

        await asyncio.to_thread(send, 0)
        first = gw.parse_workers.pids()
        assert first
        for pid in first:
            os.kill(pid, signal.SIGKILL)
        for n in range(1, 6):  # the first may find the pool broken; later ones a new pool
            await asyncio.to_thread(send, n)
        assert gw.parse_workers.started(60)
        assert gw.parse_workers.pids() and not gw.parse_workers.pids() & first
    finally:
        await gw.stop()
    with app.db.sessions() as s:
        states = s.scalars(select(InboxItem.state)).all()
        tickets = s.scalar(select(func.count()).select_from(Ticket))
    assert sorted(states) == [InboxState.PROCESSED] * 6
    assert tickets == 6


async def test_no_workers_parses_in_the_acceptor(app: App) -> None:
    app.settings = with_settings(app.settings, parse_workers=0)
    gw = Gateway(app)
    await gw.start(outbox=False, imap=False)
    try:
        assert gw.parse_workers is None
        raw = client_mail("Ana <ana@client.example>", "support@example.com", "Printer", "Jammed.")
        await asyncio.to_thread(
            smtp_send, gw.smtp_port, raw, "ana@client.example", ["support@example.com"]
        )
    finally:
        await gw.stop()
    with app.db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Ticket)) == 1
