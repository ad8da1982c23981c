"""Two ``postdesk serve`` processes on one PostgreSQL: one runs the time-based rules; when it
is killed, the other takes over within 30 s and runs them (issue 9's take-over, for rules)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from postdesk.store.db import Database
from postdesk.store.models import Ticket

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]
LEADS = "this process leads"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(name: str, env: dict[str, str], tmp: Path) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp / f"{name}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "postdesk", "serve"],
        env=env | {"POSTDESK_SMTP_PORT": str(_port()), "POSTDESK_DATA_DIR": str(tmp / name)},
        cwd=tmp,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return proc, log


def _wait_for(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise AssertionError(f"{log.name} exited:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    raise AssertionError(
        f"no {text!r} within {timeout} s in {log.name}:\n{log.read_text()[-3000:]}"
    )


def test_the_survivor_takes_over_the_time_rules(postgres_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    if postgres_server is None:
        pytest.skip("PostgreSQL not reachable")
    postgres_server.truncate()
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTDESK_")} | {
        "PYTHONPATH": str(ROOT),
        "POSTDESK_DATABASE_URL": postgres_server.url,
        "POSTDESK_SECRET_KEY": "failover-secret-key-0123456789",
        "POSTDESK_SUPPORT_ADDRESSES": "support@example.com",
        "POSTDESK_RULES_TICK_SECONDS": "0.5",
        "POSTDESK_WEB_PORT": "0",  # each process's admin on a free port
    }
    first, first_log = _start("first", env, tmp_path)
    second = None
    db = Database(postgres_server.url)
    try:
        _wait_for(first_log, LEADS, first, 30)
        second, second_log = _start("second", env, tmp_path)
        _wait_for(second_log, "SMTP listening", second, 30)
        assert LEADS not in second_log.read_text()  # the lock is held: it waits its turn

        first.send_signal(signal.SIGKILL)
        first.wait()
        _wait_for(second_log, LEADS, second, 30)  # the take-over bound of issue 9

        # and it really runs them: a ticket resolved long ago gets closed
        with db.transaction() as s:
            s.add(
                Ticket(
                    subject="old",
                    status="resolved",
                    resolved_at=datetime.now(UTC) - timedelta(days=30),
                    tags=[],
                    fields={},
                )
            )
        deadline = time.monotonic() + 20
        while True:
            with db.sessions() as s:
                status = s.scalars(select(Ticket.status)).one()
            if status == "closed" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert status == "closed", second_log.read_text()[-3000:]
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        db.dispose()
