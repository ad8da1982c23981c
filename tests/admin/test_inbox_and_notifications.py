"""The inbox of failed/quarantined mail with its retry button, and the notifications panel."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from postdesk.gateway.app import App
from postdesk.inbound.message import Envelope
from postdesk.store.models import InboxItem, Notification, Ticket
from tests.admin.conftest import add_agent, sign_in
from tests.support.mail import client_mail


def test_failed_mail_is_listed_and_retried(app: App, client: TestClient) -> None:
    raw = client_mail("ana@client.example", "support@example.com", "Stuck", "Process me")
    received = app.receive(raw, Envelope("ana@client.example", ("support@example.com",)))
    other = app.receive(
        client_mail("big@client.example", "support@example.com", "Huge", "x"),
        Envelope("big@client.example", ("support@example.com",)),
    )
    with app.db.transaction() as s:
        row = s.get(InboxItem, received.inbox_id)
        row.state, row.error, row.attempts = "failed", "OperationalError: disk I/O error", 3  # type: ignore[union-attr]
        big = s.get(InboxItem, other.inbox_id)
        big.state, big.error = "quarantined", "over the size limit"  # type: ignore[union-attr]
    add_agent(app, "boss@staff.example", "manager")
    token = sign_in(client, "boss@staff.example")
    page = client.get("/admin/inbox").text
    assert "disk I/O error" in page and "over the size limit" in page
    assert page.count(">Retry</button>") == 1  # quarantined rows are not retried
    r = client.post(f"/admin/inbox/{received.inbox_id}/retry", data={"csrf_token": token})
    assert r.status_code == 200 and f"#{received.inbox_id}: new ticket #" in r.text
    with app.db.sessions() as s:
        assert s.get(InboxItem, received.inbox_id).state == "processed"  # type: ignore[union-attr]
        assert s.scalar(select(Ticket.subject)) == "Stuck"
    assert "disk I/O error" not in client.get("/admin/inbox").text


def test_notifications_panel_counts_and_marks_read(app: App, client: TestClient) -> None:
    agent_id = add_agent(app, "ana@staff.example")
    with app.db.transaction() as s:
        for i in range(2):
            s.add(Notification(agent_id=agent_id, kind="note", summary=f"note {i}"))
    token = sign_in(client, "ana@staff.example")
    page = client.get("/admin/notifications").text
    assert '<span class="badge" id="unread">2</span>' in page
    with app.db.sessions() as s:
        first = s.scalar(select(Notification.id).limit(1))
    client.post("/admin/notifications/read", data={"notification_id": first, "csrf_token": token})
    assert '<span class="badge" id="unread">1</span>' in client.get("/admin/notifications").text
    client.post("/admin/notifications/read", data={"csrf_token": token})
    assert 'id="unread"' not in client.get("/admin/notifications").text
