"""``postdesk web`` runs the admin on its own; ``/healthz`` and ``/readyz`` answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.gateway.test_serve_command import free_port


def test_postdesk_web_serves_health_and_sign_in(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTDESK_")} | {
        "POSTDESK_DATA_DIR": str(tmp_path / "var"),
        "POSTDESK_WEB_PORT": str(port),
    }
    subprocess.run(
        [sys.executable, "-m", "postdesk", "db", "upgrade"], env=env, check=True, timeout=60
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "postdesk", "web"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=5) as r:
                    assert json.load(r) == {"status": "ok"}
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "postdesk web did not answer"
                time.sleep(0.2)
        with urllib.request.urlopen(f"{base}/admin/login", timeout=5) as r:
            assert "Sign in" in r.read().decode()
            assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
