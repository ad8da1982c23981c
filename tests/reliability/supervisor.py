"""Run ``postdesk serve`` as a real process, kill it, restart it, and deliver mail like an MTA.

Used by the crash and outage tests. The gateway always listens on the same port, so the
client only ever sees what a sending MTA sees when a server dies: a dropped connection, a
refused connection, or a 4xx, after which it tries again until it gets a 250.
"""

from __future__ import annotations

import os
import random
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = "support@example.com"
KEY = "reliability-shared-secret-0123456789"
OUTBOX_BATCH = 20  # OutboxWorker's default claim size: the at-least-once window per kill


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gateway_env(database_url: str, data_dir: Path, relay_port: int, **extra: str) -> dict[str, str]:
    """The environment of a gateway process: only our settings, none inherited from the shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTDESK_")}
    return (
        env
        | {
            "PYTHONPATH": str(ROOT),
            "POSTDESK_DATABASE_URL": database_url,
            "POSTDESK_DATA_DIR": str(data_dir),
            "POSTDESK_SECRET_KEY": KEY,
            "POSTDESK_SUPPORT_ADDRESSES": SUPPORT,
            "POSTDESK_RELAY_URL": f"smtp://127.0.0.1:{relay_port}",
            "POSTDESK_SMTP_HOST": "127.0.0.1",
            # A killed process's claimed acks are taken over by its successor after this.
            "POSTDESK_OUTBOX_LEASE_SECONDS": "2",
            "POSTDESK_OUTBOX_BACKOFF_SECONDS": "0.5",
            "POSTDESK_WEB_ENABLED": "false",  # no admin: port 8080 may be anyone's
        }
        | extra
    )


@dataclass
class GatewayProcess:
    """One ``postdesk serve`` at a time on a fixed port; ``kill`` is SIGKILL, no clean-up."""

    env: dict[str, str]
    workdir: Path
    port: int = field(default_factory=free_port)
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills: int = 0

    @property
    def log(self) -> Path:
        return self.workdir / f"serve-{self.starts}.log"

    def start(self, timeout: float = 30.0) -> None:
        self.starts += 1
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "postdesk", "serve"],
            env=self.env | {"POSTDESK_SMTP_PORT": str(self.port)},
            cwd=self.workdir,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.popen is not None
            if self.popen.poll() is not None:
                raise AssertionError(f"postdesk serve exited:\n{self.log.read_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), 1) as s:
                    if s.recv(512).startswith(b"220"):
                        return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"postdesk serve did not listen:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        assert self.popen is not None
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)
        self.kills += 1

    def stop(self) -> int | None:
        """SIGTERM (a clean shutdown); returns the exit code."""
        if self.popen is None or self.popen.poll() is not None:
            return None if self.popen is None else self.popen.returncode
        self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(20)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            return None


@dataclass
class Tally:
    """What the sending MTA saw, across all messages (thread-safe counters)."""

    replies: Counter[str] = field(default_factory=Counter)  # "250", "451", "refused", ...
    delivered: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, what: str) -> None:
        with self.lock:
            self.replies[what] += 1

    def done(self) -> int:
        with self.lock:
            self.delivered += 1
            return self.delivered


class PermanentRefusal(AssertionError):
    """The gateway answered 5xx: an MTA would bounce the message to its sender."""


def deliver(
    port: int, raw: bytes, mail_from: str, rcpt: str, tally: Tally, *, give_up_after: float = 120
) -> int:
    """Deliver one message as an MTA does: retry on 4xx, drops and refusals until 250.
    Returns the number of attempts."""
    deadline = time.monotonic() + give_up_after
    attempts = 0
    while True:
        attempts += 1
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
                client.sendmail(mail_from, [rcpt], raw)
            tally.note("250")
            return attempts
        except smtplib.SMTPResponseException as exc:
            code = exc.smtp_code
            tally.note(str(code))
            if code >= 500:
                raise PermanentRefusal(f"{code} {exc.smtp_error!r} for {mail_from}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = {c for c, _ in exc.recipients.values()}
            tally.note("rcpt " + ",".join(map(str, sorted(codes))))
            if any(c >= 500 for c in codes):
                raise PermanentRefusal(f"recipient refused: {exc.recipients}") from exc
        except ConnectionRefusedError:
            tally.note("refused")
        except (smtplib.SMTPServerDisconnected, OSError):
            tally.note("dropped")
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up on {mail_from} after {attempts} attempts")
        time.sleep(random.uniform(0.02, 0.15))


def deliver_all(
    port: int,
    jobs: list[tuple[bytes, str]],
    tally: Tally,
    *,
    width: int,
    after_each: Callable[[int], None] | None = None,
) -> list[int]:
    """Deliver every (raw, sender) from ``width`` threads; ``after_each(delivered_so_far)``."""
    attempts = [0] * len(jobs)
    queue = list(enumerate(jobs))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        while True:
            with lock:
                if not queue or errors:
                    return
                i, (raw, sender) = queue.pop(0)
            try:
                attempts[i] = deliver(port, raw, sender, SUPPORT, tally)
            except BaseException as exc:  # reported by the caller
                with lock:
                    errors.append(exc)
                return
            done = tally.done()
            if after_each is not None:
                after_each(done)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(width)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return attempts


class Killer:
    """SIGKILLs the gateway at random moments of the load and restarts it at once.

    Kill points are random counts of delivered messages, each followed by a random delay of
    up to ``jitter`` seconds so the kill lands inside whatever is in flight then. Only the
    client that reached the point waits out the delay: the others go on delivering, so there
    is something in flight to cut (a delay spent holding them all back let a fast gateway
    finish every delivery before the kill)."""

    def __init__(
        self, gateway: GatewayProcess, total: int, kills: int, seed: int, jitter: float = 0.25
    ) -> None:
        rng = random.Random(seed)
        self.gateway = gateway
        self.points = sorted(rng.sample(range(total // 20, total * 9 // 10), kills))
        self.delays = [rng.uniform(0, jitter) for _ in range(kills)]
        self.lock = threading.Lock()  # which kill point is next
        self.restarting = threading.Lock()  # one kill and restart at a time
        self.next = 0
        self.downtime = 0.0

    def __call__(self, delivered: int) -> None:
        with self.lock:
            if self.next >= len(self.points) or delivered < self.points[self.next]:
                return
            delay = self.delays[self.next]
            self.next += 1
        time.sleep(delay)
        with self.restarting:
            started = time.monotonic()
            self.gateway.kill()
            self.gateway.start()
            self.downtime += time.monotonic() - started
