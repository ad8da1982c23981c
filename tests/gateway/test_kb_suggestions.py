"""KB suggestions end to end over real SMTP: the acknowledgement links the matching article."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from postdesk.gateway.app import App
from postdesk.gateway.cli import main
from postdesk.gateway.serve import Gateway
from postdesk.gateway.settings import Settings
from postdesk.store.models import AuditEntry, Ticket
from tests.support import with_settings
from tests.support.mail import client_mail, smtp_send
from tests.support.relay import CapturingRelay

EVAL_ARTICLES = Path(__file__).resolve().parents[2] / "benchmarks" / "kb_eval" / "articles"
PORTAL = "https://help.example.com"


def _cli(settings: Settings, *args: str) -> str:
    env = {
        "POSTDESK_DATA_DIR": str(settings.data_dir),
        "POSTDESK_DATABASE_URL": settings.resolved_database_url,
        "POSTDESK_SECRET_KEY": "test-secret-key-0123456789",
    }
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
async def running(settings: Settings) -> AsyncIterator[tuple[App, Gateway, CapturingRelay]]:
    relay = await CapturingRelay().start()
    settings = with_settings(
        settings, relay_url=f"smtp://127.0.0.1:{relay.port}", portal_url=PORTAL
    )
    assert "created" in _cli(settings, "kb", "import", str(EVAL_ARTICLES))
    app = App(settings)
    gw = Gateway(app)
    await gw.start()
    try:
        yield app, gw, relay
    finally:
        await gw.stop()
        await relay.stop()
        app.close()


async def test_ack_links_the_matching_article_and_unrelated_mail_gets_none(
    settings: Settings, running: tuple[App, Gateway, CapturingRelay]
) -> None:
    app, gw, relay = running
    port = gw.smtp_port
    sender = "ana@client.example"
    question = client_mail(
        f"Ana <{sender}>",
        "support@example.com",
        "Forgot my password",
        "Hello,\nI can't remember my password and the reset link in your email expired.\nAna",
    )
    await asyncio.to_thread(smtp_send, port, question, sender, ["support@example.com"])
    [ack] = await relay.wait_for(1)
    text = ack.message.get_body(("plain",)).get_content()
    html = ack.message.get_body(("html",)).get_content()
    link = f"{PORTAL}/kb/reset-password"
    assert "These articles may already answer your question" in text
    assert f"How do I reset my password?: {link}" in text
    assert f'<a href="{link}">How do I reset my password?</a>' in html

    other = "bo@elsewhere.example"
    unrelated = client_mail(
        f"Bo <{other}>",
        "support@example.com",
        "Partnership proposal",
        "Dear team, I run an agency in Lisbon and would love to discuss a partnership.",
    )
    await asyncio.to_thread(smtp_send, port, unrelated, other, ["support@example.com"])
    messages = await relay.wait_for(2)
    second = messages[1].message
    assert messages[1].rcpt_tos == [other]
    assert "articles may already answer" not in second.get_body(("plain",)).get_content()
    assert "/kb/" not in second.get_body(("html",)).get_content()

    # Agents see on the ticket what the client was shown.
    with app.db.sessions() as s:
        first_ticket = s.scalars(select(Ticket).order_by(Ticket.id)).first()
        assert first_ticket is not None
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "kb_suggested")).all()
    assert [(e.ticket_id, e.new_value.split()[0]) for e in entries] == [
        (first_ticket.id, "reset-password")
    ]
    assert "kb_suggested" in _cli(settings, "tickets", "show", str(first_ticket.id))
