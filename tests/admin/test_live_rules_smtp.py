"""A rules edit in the admin changes what a running gateway does with the next mail over
SMTP, without a restart: the admin is another process (its own ``App``) on the same database."""

from __future__ import annotations

import asyncio

from fastapi.testclient import TestClient
from sqlalchemy import select

from postdesk.admin.app import create_app
from postdesk.gateway.app import App
from postdesk.gateway.serve import Gateway
from postdesk.gateway.settings import Settings
from postdesk.store.config_docs import TTL_SECONDS
from postdesk.store.models import Ticket
from tests.admin.conftest import add_agent, sign_in
from tests.admin.test_config_content import ASSIGN_TO_BOB, BAD_RULES
from tests.support import with_settings
from tests.support.mail import client_mail, smtp_send
from tests.support.relay import CapturingRelay
from tests.support.settle import drained


async def _send(gateway: Gateway, subject: str) -> None:
    raw = client_mail("carl@client.example", "support@example.com", subject, "Please check.")
    await asyncio.to_thread(
        smtp_send, gateway.smtp_port, raw, "carl@client.example", ["support@example.com"]
    )


def _assignees(app: App) -> dict[str, str | None]:
    with app.db.sessions() as s:
        return {
            t.subject: t.assignee.email if t.assignee else None
            for t in s.scalars(select(Ticket).order_by(Ticket.id))
        }


async def test_a_rules_edit_reaches_the_running_gateway(settings: Settings) -> None:
    relay = await CapturingRelay().start()
    settings = with_settings(settings, relay_url=f"smtp://127.0.0.1:{relay.port}")
    gateway_app, admin_app = App(settings), App(settings)
    gateway = Gateway(gateway_app)
    await gateway.start(web=False)
    try:
        add_agent(admin_app, "boss@staff.example", "manager")
        add_agent(admin_app, "bob@staff.example", "agent")
        await _send(gateway, "Invoice 1 is wrong")
        await drained(gateway_app.db, 10)
        with TestClient(create_app(admin_app), base_url="http://127.0.0.1") as client:
            token = sign_in(client, "boss@staff.example")
            r = client.post(
                "/admin/config/rules", data={"text": ASSIGN_TO_BOB, "csrf_token": token}
            )
            assert "rules saved" in r.text
            # A bad edit afterwards is refused and does not undo the good one.
            r = client.post("/admin/config/rules", data={"text": BAD_RULES, "csrf_token": token})
            assert r.status_code == 422
        await asyncio.sleep(TTL_SECONDS + 0.5)  # the gateway re-checks the version this often
        await _send(gateway, "Invoice 2 is wrong")
        await _send(gateway, "Printer broken")
        await drained(gateway_app.db, 10)
        assert _assignees(gateway_app) == {
            "Invoice 1 is wrong": None,  # before the edit
            "Invoice 2 is wrong": "bob@staff.example",  # the new rule, no restart
            "Printer broken": None,  # the rule's condition is checked, not just any mail
        }
        # Bob is told by the built-in notify-assigned rule, through the real relay.
        for _ in range(100):
            if any("bob@staff.example" in m.rcpt_tos for m in relay.messages):
                break
            await asyncio.sleep(0.1)
        assert any("bob@staff.example" in m.rcpt_tos for m in relay.messages)
    finally:
        await gateway.stop()
        await relay.stop()
        gateway_app.close()
        admin_app.close()
