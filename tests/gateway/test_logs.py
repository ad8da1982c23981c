"""JSON log lines name the message they are about: its inbox row, Message-ID and ticket."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _postdesk(env: dict[str, str], *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "postdesk", *args],
        env=env,
        input=stdin,
        capture_output=True,
        timeout=60,
    )


def test_ingest_logs_json_lines_with_message_id_and_ticket(tmp_path: Path) -> None:
    env = os.environ | {"POSTDESK_DATA_DIR": str(tmp_path / "var"), "POSTDESK_LOG_JSON": "1"}
    env.pop("POSTDESK_DATABASE_URL", None)
    env.pop("POSTDESK_SUPPORT_ADDRESSES", None)
    assert _postdesk(env, "db", "upgrade").returncode == 0
    mail = (
        b"From: Ann <ann@client.example>\r\nTo: support@localhost\r\n"
        b"Subject: Printer on fire\r\nMessage-ID: <log-test-1@client.example>\r\n\r\nHelp.\r\n"
    )
    done = _postdesk(env, "ingest", "-f", "ann@client.example", stdin=mail)
    assert done.returncode == 0, done.stderr.decode()
    lines = [json.loads(line) for line in done.stderr.decode().splitlines() if line.strip()]
    about = [e for e in lines if e.get("message_id") == "log-test-1@client.example"]
    assert about, f"no log line names the Message-ID: {lines}"
    processed = [e for e in about if "processed" in e["event"]]
    assert processed and processed[0]["ticket"] == 1 and processed[0]["inbox"] == 1
    assert all({"timestamp", "level", "logger"} <= e.keys() for e in lines)


def test_console_logs_show_plain_tracebacks(capsys: pytest.CaptureFixture[str]) -> None:
    """Not rich's pretty tracebacks: they cost seconds per exception on the SMTP event loop."""
    import logging

    from postdesk.gateway.logs import configure_logging

    configure_logging(json=False)
    try:
        raise ValueError("database unreachable")
    except ValueError:
        logging.getLogger("postdesk.test").exception("could not store")
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ValueError: database unreachable" in err
    assert "╭" not in err  # rich's panel border
