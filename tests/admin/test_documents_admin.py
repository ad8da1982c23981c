"""Conversations and document requests through the JSON API and the admin pages, on a real
database (SQLite and PostgreSQL); the client's reply goes through the real pipeline."""

from __future__ import annotations

import email.policy
import string
from email.message import EmailMessage
from urllib.parse import quote

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from postdesk.gateway.app import App
from postdesk.inbound.message import Envelope
from postdesk.store.document_models import RequestedDocument
from postdesk.store.models import OutboxItem, Ticket
from tests.admin.conftest import add_agent, add_token, sign_in


def _client_reply(to: str, files: dict[str, bytes]) -> bytes:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = "Ana <ana@client.example>"
    msg["To"] = to
    msg["Subject"] = "Re: documents"
    msg["Message-ID"] = "<reply-1@client.example>"
    msg.set_content("Here you are.")
    for name, data in files.items():
        msg.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return msg.as_bytes()


def _reply_to(app: App, ticket: int) -> str:
    with app.db.sessions() as s:
        raw = s.scalars(select(OutboxItem.raw).where(OutboxItem.ticket_id == ticket)).first()
    assert raw is not None
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    return str(parsed["Reply-To"])


def test_api_conversation_and_documents(app: App, client: TestClient) -> None:
    token = add_token(app, add_agent(app, "carla@example.com"))
    auth = {"Authorization": f"Bearer {token}"}
    r = client.post(
        "/api/conversations",
        json={
            "to": "Ana <ana@client.example>",
            "subject": "Your application",
            "body": "We need a few things.",
            "documents": ["Passport"],
        },
        headers=auth,
    )
    assert r.status_code == 201, r.text
    made = r.json()
    number = made["ticket"]
    assert (made["type"], made["status"], made["requester"]) == (
        "conversation",
        "pending",
        "ana@client.example",
    )
    assert [(d["name"], d["state"]) for d in made["documents"]] == [("Passport", "requested")]

    r = client.post(
        f"/api/tickets/{number}/documents",
        json={"names": ["Payslip", "Bank statement"], "note": "Two more, please."},
        headers=auth,
    )
    assert r.status_code == 201, r.text
    assert [d["name"] for d in r.json()] == ["Payslip", "Bank statement"]
    assert {d["requested_by"] for d in r.json()} == {"carla@example.com"}

    # The client answers with two of the three; the list shows it.
    app.accept(
        _client_reply(
            _reply_to(app, number), {"payslip.pdf": b"%PDF 1", "passport.pdf": b"%PDF 2"}
        ),
        Envelope("ana@client.example", ("support@example.com",)),
    )
    r = client.get(f"/api/tickets/{number}/documents", headers=auth)
    assert r.status_code == 200
    states = {d["name"]: (d["state"], d["filename"]) for d in r.json()}
    assert states == {
        "Passport": ("received", "passport.pdf"),
        "Payslip": ("received", "payslip.pdf"),
        "Bank statement": ("requested", None),
    }


def test_api_bad_input_answers_4xx(app: App, client: TestClient) -> None:
    token = add_token(app, add_agent(app, "carla@example.com"))
    auth = {"Authorization": f"Bearer {token}"}
    with app.db.transaction() as s:
        s.add(Ticket(subject="internal", type="escalation", tags=[], fields={}))
        s.add(Ticket(subject="no client", tags=[], fields={}))
    conv = {"to": "nobody", "subject": "x", "body": "y"}
    cases = [
        ("post", "/api/conversations", conv, 422, "not an email address"),
        ("post", "/api/conversations", conv | {"to": "a@b.example", "body": ""}, 422, "write"),
        ("post", "/api/conversations", conv | {"to": "carla@example.com"}, 422, "staff"),
        ("post", "/api/tickets/1/documents", {"names": ["A"]}, 422, "internal"),
        ("post", "/api/tickets/2/documents", {"names": ["A"]}, 422, "no client address"),
        ("post", "/api/tickets/2/documents", {"names": []}, 422, ""),
        ("post", "/api/tickets/2/documents", {"names": ["  "]}, 422, "at least one"),
        ("post", "/api/tickets/99/documents", {"names": ["A"]}, 404, "no such ticket"),
        ("get", "/api/tickets/99/documents", None, 404, "no such ticket"),
        ("get", f"/api/tickets/{2**63}/documents", None, 422, ""),
    ]
    for method, url, body, code, text in cases:
        r = client.request(method.upper(), url, json=body, headers=auth)
        assert r.status_code == code, (url, body, r.text)
        assert text in r.text, (url, r.text)
    assert client.get("/api/tickets/2/documents").status_code == 401
    with app.db.sessions() as s:
        assert s.scalars(select(RequestedDocument)).all() == []
        assert s.scalars(select(OutboxItem)).all() == []


def test_admin_message_client_and_request_form(app: App, client: TestClient) -> None:
    add_agent(app, "carla@example.com")
    csrf = sign_in(client, "carla@example.com")
    listing = client.get("/admin/tickets").text
    assert 'href="/admin/message-client"' in listing
    assert 'id="message-client-form"' in client.get("/admin/message-client").text

    bad = client.post(
        "/admin/message-client",
        data={"to": "ana@", "subject": "Hi", "body": "Hello", "csrf_token": csrf},
    )
    assert bad.status_code == 422 and "not an email address" in bad.text
    assert 'value="Hi"' in bad.text  # what was typed is kept

    r = client.post(
        "/admin/message-client",
        data={"to": "ana@client.example", "subject": "Hi", "body": "Hello", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    url = r.headers["location"]
    number = int(url.rsplit("/", 1)[1])
    ticket_page = client.get(url).text
    assert "Conversation started" in ticket_page and "No documents requested." in ticket_page

    empty = client.post(f"{url}/documents", data={"names": " \n ", "csrf_token": csrf})
    assert empty.status_code == 422 and "name at least one document" in empty.text
    r = client.post(
        f"{url}/documents",
        data={"names": "Passport\nProof of address", "note": "", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    app.accept(
        _client_reply(_reply_to(app, number), {"passport.pdf": b"%PDF scan"}),
        Envelope("ana@client.example", ("support@example.com",)),
    )
    html = client.get(url).text
    assert 'data-document="Passport"' in html and 'data-document="Proof of address"' in html
    with app.db.sessions() as s:
        att = s.scalars(
            select(RequestedDocument.attachment_id).where(RequestedDocument.name == "Passport")
        ).one()
    assert f'href="/admin/attachments/{att}"' in html
    download = client.get(f"/admin/attachments/{att}")
    assert download.status_code == 200 and download.content == b"%PDF scan"
    forged = client.post(f"{url}/documents", data={"names": "X"})
    assert forged.status_code == 403  # no CSRF token


_text = st.text(string.printable + "äé\u202e\x00", max_size=30)


def test_document_api_never_answers_500(app: App, client: TestClient) -> None:
    """Whatever arrives at the conversation and document endpoints: no 500, nothing half-made."""
    add_agent(app, "carla@example.com")
    auth = {"Authorization": f"Bearer {add_token(app, add_agent(app, 'bot@example.com'))}"}
    r = client.post(
        "/api/conversations",
        json={"to": "ana@client.example", "subject": "S", "documents": ["Passport"]},
        headers=auth,
    )
    assert r.status_code == 201
    number = r.json()["ticket"]

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        conversation=st.dictionaries(
            st.sampled_from(["to", "subject", "body", "documents"]),
            st.one_of(_text, st.lists(_text, max_size=3), st.integers()),
        ),
        names=st.one_of(st.lists(_text, max_size=3), _text, st.none()),
        note=_text,
        x=st.one_of(st.just(number), st.integers(), _text),
    )
    def check(conversation: dict, names: object, note: str, x: object) -> None:
        r = client.post("/api/conversations", json=conversation, headers=auth)
        assert r.status_code < 500, (conversation, r.text)
        seg = quote(str(x), safe="")
        r = client.post(
            f"/api/tickets/{seg}/documents", json={"names": names, "note": note}, headers=auth
        )
        assert r.status_code < 500, (x, names, note, r.text)
        assert client.get(f"/api/tickets/{seg}/documents", headers=auth).status_code < 500

    check()


def test_control_characters_are_dropped_not_stored(app: App, client: TestClient) -> None:
    """PostgreSQL refuses NUL in text: typed input loses its control characters first."""
    auth = {"Authorization": f"Bearer {add_token(app, add_agent(app, 'bot@example.com'))}"}
    r = client.post(
        "/api/conversations",
        json={
            "to": "ana@client.example",
            "subject": "Loan\x00 offer",
            "body": "Hello\x00\r\nthere",
            "documents": ["Pass\x00port"],
        },
        headers=auth,
    )
    assert r.status_code == 201, r.text
    number = r.json()["ticket"]
    assert [d["name"] for d in r.json()["documents"]] == ["Pass port"]
    r = client.post(
        f"/api/tickets/{number}/documents",
        json={"names": ["Pay\x07slip"], "note": "n\x00"},
        headers=auth,
    )
    assert r.status_code == 201 and r.json()[0]["name"] == "Pay slip"
    bad = client.post(
        "/api/conversations",
        json={"to": "ana\x00@client.example", "subject": "S", "body": "b"},
        headers=auth,
    )
    assert bad.status_code == 422
    with app.db.sessions() as s:
        t = s.get(Ticket, number)
        assert t is not None and t.subject == "Loan offer"
