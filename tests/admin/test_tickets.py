"""Ticket work through the admin over a real pipeline: hostile HTML, reply, note, refusals."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from postdesk.gateway.app import App
from postdesk.inbound.message import Envelope
from postdesk.store.models import Message, Notification, OutboxItem, Ticket
from tests.admin.conftest import add_agent, sign_in
from tests.support.hostile import MARKERS, hostile_mail
from tests.support.mail import client_mail


def _receive(app: App, raw: bytes, sender: str) -> int:
    accepted = app.accept(raw, Envelope(sender, ("support@example.com",)))
    assert accepted.processed is not None and accepted.processed.ticket_id is not None
    return accepted.processed.ticket_id


def test_hostile_mail_is_inert_in_the_page_and_its_frame(app: App, client: TestClient) -> None:
    number = _receive(app, hostile_mail(), "mallory@client.example")
    add_agent(app, "ana@staff.example")
    sign_in(client, "ana@staff.example")
    r = client.get(f"/admin/tickets/{number}")
    assert r.status_code == 200
    assert "<script" not in r.text.lower()  # the page has no script at all, the mail's escaped
    assert "&lt;script&gt;" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert "'unsafe-inline'" not in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    [frame_url] = re.findall(r'src="(/admin/messages/\d+/html)"', r.text)
    frame = client.get(frame_url)
    body = frame.text.lower()
    for marker in MARKERS:
        assert marker not in body, marker
    assert "hello <b>support</b>" in body
    policy = frame.headers["content-security-policy"]
    assert "sandbox" in policy and "default-src 'none'" in policy and "http:" not in policy
    # The attachment is a download with a neutral type and a name without a path.
    [att_url] = re.findall(r'href="(/admin/attachments/\d+)"', r.text)
    dl = client.get(att_url)
    assert dl.headers["content-type"] == "application/octet-stream"
    disposition = dl.headers["content-disposition"]
    assert disposition.startswith("attachment;") and "/" not in disposition.split(";")[1]


def test_reply_goes_to_the_requester_and_note_stays_internal(app: App, client: TestClient) -> None:
    raw = client_mail(
        "Ana <ana@client.example>",
        "support@example.com",
        "Printer",
        "It burns",
        cc="cc@client.example",
    )
    number = _receive(app, raw, "ana@client.example")
    agent_id = add_agent(app, "bob@staff.example")
    other = add_agent(app, "carol@staff.example")
    token = sign_in(client, "bob@staff.example")
    with app.db.sessions() as s:
        before = set(s.scalars(select(OutboxItem.id)))
    r = client.post(
        f"/admin/tickets/{number}/reply",
        data={"body": "We are on it.", "then_status": "pending", "csrf_token": token},
    )
    assert r.status_code == 200 and "Reply sent" in r.text
    with app.db.sessions() as s:
        [row] = s.scalars(select(OutboxItem).where(OutboxItem.id.not_in(before))).all()
        assert row.recipients == ["ana@client.example", "cc@client.example"]
        assert row.automatic is False and row.kind == "agent_reply"
        assert b"We are on it." in row.raw
        sent = s.scalar(select(Message).where(Message.message_id == row.message_id))
        assert sent is not None and sent.author_agent_id == agent_id
        first = s.scalar(
            select(Message).where(Message.ticket_id == number, Message.direction == "in")
        )
        assert first is not None and first.message_id in row.raw.decode()  # threaded
        assert s.get(Ticket, number).status == "pending"  # type: ignore[union-attr]
        before = set(s.scalars(select(OutboxItem.id)))
    # Carol replies internally: Bob (who wrote on the ticket) is told; the client is not.
    client.post("/admin/logout", data={"csrf_token": token})
    token = sign_in(client, "carol@staff.example")
    r = client.post(
        f"/admin/tickets/{number}/note", data={"body": "Call them?", "csrf_token": token}
    )
    assert r.status_code == 200 and "Call them?" in r.text
    with app.db.sessions() as s:
        new = s.scalars(select(OutboxItem).where(OutboxItem.id.not_in(before))).all()
        assert [n.recipients for n in new] == [["bob@staff.example"]]
        note = s.scalar(select(Message).where(Message.visibility == "internal"))
        assert note is not None and note.author_agent_id == other
        assert s.scalar(select(Notification.agent_id)) == agent_id


def test_refused_change_is_a_form_error(app: App, client: TestClient) -> None:
    number = _receive(
        app,
        client_mail("ana@client.example", "support@example.com", "Hi", "Hello"),
        "ana@client.example",
    )
    add_agent(app, "bob@staff.example")
    token = sign_in(client, "bob@staff.example")
    r = client.post(
        f"/admin/tickets/{number}/change",
        data={"field": "status", "value": "closed", "csrf_token": token},
    )
    assert r.status_code == 200
    r = client.post(
        f"/admin/tickets/{number}/change",
        data={"field": "status", "value": "open", "csrf_token": token},
    )
    assert r.status_code == 422
    assert 'id="form-error"' in r.text
    r = client.post(
        f"/admin/tickets/{number}/change",
        data={"field": "type", "value": "escalation", "csrf_token": token},
    )
    assert r.status_code == 422
    r = client.post(f"/admin/tickets/{number}/reply", data={"body": "  ", "csrf_token": token})
    assert r.status_code == 422 and "write something first" in r.text


def test_views_filters_and_pagination(app: App, client: TestClient) -> None:
    for i in range(27):
        _receive(
            app,
            client_mail(f"c{i}@client.example", "support@example.com", f"Case {i}", "x"),
            f"c{i}@client.example",
        )
    add_agent(app, "bob@staff.example")
    sign_in(client, "bob@staff.example")
    r = client.get("/admin/tickets?view=open")
    assert r.text.count('href="/admin/tickets/') >= 2 * 25 and "page 1 of 2" in r.text
    r = client.get("/admin/tickets?view=open&page_no=2")
    assert "page 2 of 2" in r.text
    r = client.get("/admin/tickets?view=open&q=Case%2013")
    assert "Case 13" in r.text and "Case 12" not in r.text
    assert client.get("/admin/tickets?view=nope").status_code == 404


def test_out_of_range_ids_are_not_server_errors(app: App, client: TestClient) -> None:
    add_agent(app, "bob@staff.example")
    sign_in(client, "bob@staff.example")
    for url in ("/admin/tickets/99999999999999999999", "/admin/messages/-1/html"):
        assert client.get(url).status_code == 422
    assert client.get("/admin/tickets/424242").status_code == 404
    assert client.get("/admin/attachments/424242").status_code == 404
