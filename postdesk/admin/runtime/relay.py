"""The SMTP listener and the outgoing relay as configured (read-only), and a test mail."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from fastapi import Depends, Form, Request
from starlette.responses import Response

from postdesk.admin.deps import state
from postdesk.admin.runtime.common import config_router, configurator, render
from postdesk.gateway.settings import Settings
from postdesk.outbound.transport import RelayConfig
from postdesk.store.models import Agent

router = config_router()
TEST_TIMEOUT = 20.0  # seconds the page waits for the relay


def listener_facts(s: Settings) -> list[tuple[str, str]]:
    return [
        ("Listens on", f"{s.smtp_host}:{s.smtp_port} ({'LMTP' if s.smtp_lmtp else 'SMTP'})"),
        ("TLS", "not offered by postdesk: terminate TLS in the MTA in front of it"),
        ("AUTH", "not offered; mail from trusted networks counts as authenticated"),
        ("Largest message", f"{s.smtp_max_message_bytes:,} bytes (552 above)"),
        ("Trusted networks", ", ".join(s.smtp_trusted_networks) or "none"),
        ("Agent mail proven by", s.agent_verification),
    ]


def relay_facts(s: Settings) -> list[tuple[str, str]]:
    """The relay without its password (only whether one is set)."""
    if s.relay_url is None:
        return [("Relay", f"none: mail is written to the Maildir {s.sink_dir}")]
    try:
        c = RelayConfig.from_url(s.relay_url.get_secret_value())
    except ValueError as exc:
        return [("Relay", f"invalid POSTDESK_RELAY_URL: {exc}")]
    tls = "STARTTLS required" if c.starttls else "STARTTLS when offered"
    tls = "implicit TLS" if c.implicit_tls else tls
    return [
        ("Relay", f"{c.host}:{c.port}"),
        ("TLS", tls),
        ("User", c.username or "none (no AUTH)"),
        ("Password", "set (not shown)" if c.password else "none"),
        ("From", f"{s.support_name} <{s.primary_address}>"),
    ]


def _page(request: Request, me: Agent, extra: dict[str, Any], code: int = 200) -> Response:
    s = state(request).core.settings
    ctx = {"listener": listener_facts(s), "relay": relay_facts(s), "result": None, "to": ""}
    return render(request, me, "cfg_smtp.html", ctx | extra, error=extra.get("err"), code=code)


@router.get("/smtp")
def smtp_page(request: Request, me: Agent = Depends(configurator)) -> Response:
    return _page(request, me, {})


def test_message(sender: str, name: str, to: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>"
    msg["To"] = to
    msg["Subject"] = "postdesk relay test"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content("This is a test message from the postdesk admin; the relay works.")
    return msg.as_bytes()


@router.post("/smtp/test")
def send_test(
    request: Request, to: str = Form("", max_length=320), me: Agent = Depends(configurator)
) -> Response:
    core = state(request).core
    to = to.strip()
    if "@" not in to or any(c in to for c in " <>,;\r\n"):
        return _page(request, me, {"err": "give one plain address, e.g. you@example.com"}, 422)
    raw = test_message(core.settings.primary_address, core.settings.support_name, to)
    try:  # synchronous on purpose: the operator waits for the relay's own answer
        asyncio.run(
            asyncio.wait_for(
                core.transport.send(raw, core.settings.primary_address, [to]), TEST_TIMEOUT
            )
        )
    except TimeoutError:
        result = (False, f"no answer from the relay within {TEST_TIMEOUT:.0f}s")
    except Exception as exc:  # the relay's refusal is the answer shown to the operator
        result = (False, f"{type(exc).__name__}: {exc}")
    else:
        result = (True, f"the relay accepted a test message to {to}")
    return _page(request, me, {"result": result, "to": to}, 200 if result[0] else 502)
