"""The README's first steps for real: db upgrade, serve, swaks, then the CLI."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"postdesk serve exited: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("postdesk serve did not listen in time")


def test_serve_swaks_then_tickets_list_and_sink(tmp_path: Path) -> None:
    swaks = shutil.which("swaks")
    if swaks is None:
        if os.environ.get("CI"):
            pytest.fail("swaks is required in CI (.ci/run installs it)")
        pytest.skip("swaks not installed")
    port = free_port()
    env = os.environ | {"POSTDESK_DATA_DIR": str(tmp_path / "var"), "POSTDESK_SMTP_PORT": str(port)}
    env.pop("POSTDESK_DATABASE_URL", None)
    env.pop("POSTDESK_SUPPORT_ADDRESSES", None)

    def postdesk(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "postdesk", *args],
            env=env,
            capture_output=True,
            timeout=60,
            check=True,
        )
        return done.stdout.decode()

    assert "database at revision" in postdesk("db", "upgrade")
    server = subprocess.Popen(
        [sys.executable, "-m", "postdesk", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, server)
        sent = subprocess.run(
            [
                swaks,
                "--to",
                "support@localhost",
                "--from",
                "ana@client.example",
                "--server",
                f"127.0.0.1:{port}",
                "--header",
                "Subject: The printer is on fire",
            ],
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert sent.returncode == 0, sent.stdout.decode()
        assert "250 2.0.0" in sent.stdout.decode()
        assert "The printer is on fire" in postdesk("tickets", "list")
        deadline = time.monotonic() + 15
        while "[#1] The printer is on fire" not in (listing := postdesk("sink", "list")):
            assert time.monotonic() < deadline, listing
            time.sleep(0.2)
        assert "ana@client.example" in listing
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert server.returncode == 0  # SIGTERM is a clean shutdown
