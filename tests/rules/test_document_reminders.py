"""Document reminders in the time-based job with a controllable clock: due after the set days,
at most the set number, never twice at one moment, never for a done ticket — and a ticket
waiting for documents gets them instead of the generic pending reminder and auto-close."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from postdesk.gateway.app import App
from postdesk.gateway.settings import Settings
from postdesk.rules.document_flow import request_documents
from postdesk.rules.timed import run_time_rules
from postdesk.store import changes
from postdesk.store.models import AuditEntry, Contact, OutboxItem, Ticket
from tests.support import with_settings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def core(settings: Settings) -> Iterator[App]:
    app = App(with_settings(settings, document_reminder_days=3, document_reminder_max=2))
    yield app
    app.close()


def _ticket_with_request(core: App, subject: str) -> int:
    with core.db.transaction() as s:
        ana = s.scalar(select(Contact).where(Contact.email == "ana@client.example"))
        if ana is None:
            ana = Contact(email="ana@client.example", name="Ana")
            s.add(ana)
            s.flush()
        t = Ticket(
            subject=subject,
            requester_id=ana.id,
            support_address="support@example.com",
            status="open",
            created_at=T0,
            updated_at=T0,
            status_changed_at=T0,
            tags=[],
            fields={},
        )
        s.add(t)
        s.flush()
        s.refresh(t)
        request_documents(
            s,
            ident=core.pipeline.ident,
            renderer=core.renderer,
            ticket=t,
            names=["Passport"],
            agent=None,
            actor="cli",
            support=core.settings.support_addresses,
            now=T0,
        )
        return t.id


def _kinds(core: App, ticket_id: int) -> list[str]:
    with core.db.sessions() as s:
        return list(
            s.scalars(
                select(OutboxItem.kind)
                .where(OutboxItem.ticket_id == ticket_id)
                .order_by(OutboxItem.id)
            )
        )


def _run(core: App, now: datetime) -> list[int]:
    first = run_time_rules(core.db, core.settings, now).document_reminders
    assert run_time_rules(core.db, core.settings, now).total == 0  # idempotent
    return first


def test_reminders_are_spaced_capped_and_replace_the_pending_timers(core: App) -> None:
    waiting = _ticket_with_request(core, "waiting")
    done = _ticket_with_request(core, "resolved later")
    with core.db.transaction() as s:
        t = s.get(Ticket, done)
        assert t is not None and t.status == "pending"  # the request made it wait on the client
        changes.set_status(s, t, "resolved", actor="carla@example.com", now=T0)

    assert _run(core, T0 + timedelta(days=2, hours=23)) == []
    [first] = _run(core, T0 + timedelta(days=3))
    assert _run(core, T0 + timedelta(days=5)) == []
    assert _run(core, T0 + timedelta(days=6)) == [first]
    assert _run(core, T0 + timedelta(days=30)) == []  # the maximum of two was reached

    # Only the waiting ticket was reminded; the generic pending reminder and the
    # auto-close (after 3 and 10 days by default) left it alone: it waits for documents.
    assert _kinds(core, waiting) == ["document_request", "document_reminder", "document_reminder"]
    assert _kinds(core, done) == ["document_request"]
    with core.db.sessions() as s:
        t = s.get(Ticket, waiting)
        assert t is not None and t.status == "pending"
        details = list(
            s.scalars(
                select(AuditEntry.detail).where(
                    AuditEntry.ticket_id == waiting, AuditEntry.action == "document_reminder"
                )
            )
        )
    assert [d.split(",")[0] for d in details] == [
        f"request {first}: reminder 1 of 2",
        f"request {first}: reminder 2 of 2",
    ]
