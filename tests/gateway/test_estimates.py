"""Time estimates through the real pipeline: a support ticket over SMTP gets a suggestion, a
question does not, and a client whose work takes twice the estimate gets higher estimates."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from postdesk.gateway.app import App
from postdesk.gateway.serve import Gateway
from postdesk.gateway.settings import Settings
from postdesk.inbound.message import Envelope
from postdesk.store.estimates import estimate_of, record_actual
from postdesk.store.models import AuditEntry, ClientDomain, ClientOrg, Ticket
from postdesk.store.task_models import TicketEstimate
from tests.support import with_settings
from tests.support.mail import client_mail, smtp_send
from tests.support.relay import CapturingRelay
from tests.support.settle import drained

SUPPORT = "support@example.com"
QUESTION_RULES = """\
defaults: true
rules:
  - name: questions
    description: Mail whose subject starts with "Question" is a question
    events: [ticket.created]
    when:
      - {field: ticket.subject, regex: "(?i)^question"}
    then:
      - set: {type: question}
"""
PRINTER = [
    ("Printer jam on floor 2", "The printer on floor 2 has a paper jam, tray 3 is stuck."),
    ("Printer toner empty", "Our printer says the toner is empty and the paper tray jams."),
    ("Printer jam again", "Paper jam again in the printer, the tray will not close."),
    ("Printer prints blank pages", "The printer feeds paper but prints blank pages, tray 1."),
]


def _mail(sender: str, subject: str, body: str) -> bytes:
    return client_mail(f"Client <{sender}>", SUPPORT, subject, body)


def _open(app: App, sender: str, subject: str, body: str) -> int:
    accepted = app.accept(_mail(sender, subject, body), Envelope(sender, (SUPPORT,)))
    processed = accepted.processed
    assert processed is not None and processed.ticket_id is not None, accepted
    return processed.ticket_id


def _resolve_with(app: App, ticket_id: int, minutes: int) -> None:
    with app.db.transaction() as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None
        record_actual(s, ticket, minutes, actor="agent@example.com", now=app.clock())


def _estimate(app: App, ticket_id: int) -> TicketEstimate | None:
    with app.db.sessions() as s:
        return estimate_of(s, ticket_id)


@pytest.fixture
async def running(settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[App, Gateway]]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(QUESTION_RULES)
    relay = await CapturingRelay().start()
    settings = with_settings(settings, relay_url=f"smtp://127.0.0.1:{relay.port}", rules_file=rules)
    app = App(settings)
    gw = Gateway(app)
    await gw.start()
    try:
        yield app, gw
    finally:
        await gw.stop()
        await relay.stop()
        app.close()


async def test_a_support_ticket_over_smtp_gets_a_suggestion_a_question_does_not(
    running: tuple[App, Gateway],
) -> None:
    app, gw = running
    for i, (subject, body) in enumerate(PRINTER):
        tid = await asyncio.to_thread(_open, app, f"user{i}@old.example", subject, body)
        await asyncio.to_thread(_resolve_with, app, tid, 40 + 5 * i)  # 40..55 minutes

    sender = "ana@client.example"
    raw = _mail(sender, "Printer paper jam", "Hello, the printer has a paper jam in tray 2.")
    await asyncio.to_thread(smtp_send, gw.smtp_port, raw, sender, [SUPPORT])
    question = _mail("bo@client.example", "Question: printer paper jam?", "Is a jam covered?")
    await asyncio.to_thread(smtp_send, gw.smtp_port, question, "bo@client.example", [SUPPORT])
    await drained(app.db, 30)

    with app.db.sessions() as s:
        support, asked = s.scalars(
            select(Ticket)
            .where(Ticket.subject.in_(["Printer paper jam", "Question: printer paper jam?"]))
            .order_by(Ticket.id)
        ).all()
        assert (support.type, asked.type) == ("support", "question")
        est = estimate_of(s, support.id)
        assert est is not None and est.suggested_minutes is not None
        assert 40 <= est.suggested_minutes <= 55
        assert est.confidence in ("High", "Medium")
        assert est.reason is not None and "Similar resolved" in est.reason
        assert estimate_of(s, asked.id) is None
        trail = s.scalars(select(AuditEntry.action).where(AuditEntry.ticket_id == support.id)).all()
    assert "estimate_suggested" in trail
    from click.testing import CliRunner

    from postdesk.gateway.cli import main

    env = {"POSTDESK_DATABASE_URL": app.settings.resolved_database_url}
    env |= {"POSTDESK_DATA_DIR": str(app.settings.data_dir), "POSTDESK_SECRET_KEY": "x" * 32}
    shown = CliRunner().invoke(main, ["tickets", "show", str(support.id)], env=env)
    assert f"estimate {est.suggested_minutes} min ({est.confidence})" in shown.output, shown.output


async def test_a_client_whose_work_takes_twice_the_estimate_gets_higher_estimates(
    app: App,
) -> None:
    with app.db.transaction() as s:
        for name, domain in (("Slow Ltd", "slow.example"), ("Usual Ltd", "usual.example")):
            org = ClientOrg(name=name)
            s.add(org)
            s.flush()
            s.add(ClientDomain(domain=domain, org_id=org.id))
    # The same kind of work for both clients, in turns; the slow client's takes twice the
    # suggestion each time, the usual one's exactly the suggestion.
    for round_no in range(6):
        for domain, factor in (("slow.example", 2.0), ("usual.example", 1.0)):
            subject, body = PRINTER[round_no % len(PRINTER)]
            tid = _open(app, f"u{round_no}@{domain}", subject, body)
            est = _estimate(app, tid)
            suggested = est.suggested_minutes if est and est.suggested_minutes else 45
            _resolve_with(app, tid, round(suggested * factor))

    slow = _open(app, "new@slow.example", "Printer jam", "The printer has a paper jam.")
    usual = _open(app, "new@usual.example", "Printer jam", "The printer has a paper jam.")
    slow_est, usual_est = _estimate(app, slow), _estimate(app, usual)
    assert slow_est is not None and usual_est is not None
    assert slow_est.suggested_minutes and usual_est.suggested_minutes
    assert slow_est.suggested_minutes >= 1.4 * usual_est.suggested_minutes
    assert slow_est.client_factor > 1.4 > usual_est.client_factor
    assert slow_est.reason and "this client's tickets take" in slow_est.reason


def test_a_failing_estimate_never_fails_the_message(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    from postdesk.rules.estimate_rule import SHARED_INDEX

    # A resolved ticket with its time, so the suggestion reads the history index...
    _resolve_with(app, _open(app, "bo@client.example", *PRINTER[0]), 30)
    calls: list[object] = []

    def broken(*args: object) -> object:
        calls.append(args)
        raise RuntimeError("index unavailable")

    monkeypatch.setattr(SHARED_INDEX, "index", broken)  # ...and a fault injected into it
    raw = client_mail("ana@client.example", "support@example.com", "Printer", "It jams")
    accepted = app.accept(raw, Envelope("ana@client.example", ("support@example.com",)))
    assert accepted.processed is not None and accepted.processed.state == "processed"
    assert calls, "the history index was never asked"
    with app.db.sessions() as s:
        assert estimate_of(s, accepted.processed.ticket_id) is None
        assert s.get(Ticket, accepted.processed.ticket_id) is not None
