"""The JSON API (bearer tokens), the OpenAPI document, health and Prometheus metrics."""

from __future__ import annotations

import string
from urllib.parse import quote

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postdesk.gateway.app import App
from postdesk.inbound.message import Envelope
from tests.admin.conftest import add_agent, add_token
from tests.support.mail import client_mail


def _ticket(app: App) -> int:
    raw = client_mail("ana@client.example", "support@example.com", "API case", "Hello API")
    accepted = app.accept(raw, Envelope("ana@client.example", ("support@example.com",)))
    assert accepted.processed is not None and accepted.processed.ticket_id
    return accepted.processed.ticket_id


def test_api_refuses_without_a_valid_token(app: App, client: TestClient) -> None:
    assert client.get("/api/tickets").status_code == 401
    assert client.get("/api/tickets", headers={"Authorization": "Bearer nope"}).status_code == 401
    # A session cookie is not an API credential.
    assert client.get("/api/clients").status_code == 401


def test_api_lists_shows_and_answers(app: App, client: TestClient) -> None:
    number = _ticket(app)
    token = add_token(app, add_agent(app, "bot@staff.example"))
    auth = {"Authorization": f"Bearer {token}"}
    listed = client.get("/api/tickets?view=open", headers=auth).json()
    assert [t["id"] for t in listed] == [number]
    detail = client.get(f"/api/tickets/{number}", headers=auth).json()
    assert detail["messages"][0]["text"].startswith("Hello API")
    r = client.post(f"/api/tickets/{number}/notes", json={"body": "internal"}, headers=auth)
    assert r.status_code == 201 and r.json()["visibility"] == "internal"
    r = client.post(f"/api/tickets/{number}/reply", json={"body": "Done"}, headers=auth)
    assert r.status_code == 201 and r.json()["visibility"] == "public"
    r = client.post(
        f"/api/tickets/{number}/changes", json={"field": "status", "value": "closed"}, headers=auth
    )
    assert r.status_code == 200 and r.json()["status"] == "closed"
    r = client.post(
        f"/api/tickets/{number}/changes", json={"field": "status", "value": "open"}, headers=auth
    )
    assert r.status_code == 422  # the workflow's refusal, not a 500
    assert client.get("/api/tickets/999999", headers=auth).status_code == 404
    # API calls need no CSRF token (no cookie is involved), and the OpenAPI document exists.
    doc = client.get("/api/openapi.json").json()
    assert "/api/tickets/{number}/reply" in doc["paths"]


def test_health_ready_and_metrics(app: App, client: TestClient) -> None:
    _ticket(app)
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok"}
    text = client.get("/metrics").text
    assert "postdesk_messages_received_total 1.0" in text
    assert 'postdesk_inbox_messages{state="processed"} 1.0' in text
    assert "postdesk_outbox_backlog 1.0" in text  # the acknowledgement waits for the worker


def test_readyz_reports_a_dead_database(app: App, client: TestClient) -> None:
    from postdesk.store.db import Database

    app.db.dispose()
    app.db.engine = Database("sqlite:////nonexistent-dir/x.sqlite3").engine
    app.db.sessions.configure(bind=app.db.engine)
    r = client.get("/readyz")
    assert r.status_code == 503


_text = st.text(string.printable + "äé\u202e\x00", max_size=30)


def test_api_never_answers_500(app: App, client: TestClient) -> None:
    """Property test over the API's inputs: whatever arrives, no 500 (a schemathesis stand-in)."""
    number = _ticket(app)
    auth = {"Authorization": f"Bearer {add_token(app, add_agent(app, 'bot@staff.example'))}"}

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        path=st.sampled_from(
            ["/api/tickets", f"/api/tickets/{number}", "/api/clients", "/api/tickets/{x}"]
        ),
        params=st.dictionaries(
            st.sampled_from(["view", "type", "priority", "q", "limit", "offset"]), _text, max_size=4
        ),
        body=st.one_of(
            st.none(),
            st.dictionaries(st.sampled_from(["body", "then_status", "field", "value"]), _text),
        ),
        x=st.one_of(st.integers(), _text),
        action=st.sampled_from(["reply", "notes", "changes"]),
    )
    def check(path: str, params: dict, body: dict | None, x: object, action: str) -> None:
        seg = quote(str(x), safe="")
        url = path.replace("{x}", seg)
        r = client.get(url, params=params, headers=auth)
        assert r.status_code < 500, (url, params, r.text)
        r = client.post(f"/api/tickets/{seg}/{action}", json=body, headers=auth)
        assert r.status_code < 500, (x, action, body, r.text)

    check()


def test_a_nul_in_a_filter_is_no_server_error(app: App, client: TestClient) -> None:
    """PostgreSQL refuses NUL in a query parameter: filters drop control characters first."""
    number = _ticket(app)
    auth = {"Authorization": f"Bearer {add_token(app, add_agent(app, 'bot@staff.example'))}"}
    r = client.get("/api/tickets", params={"q": "API\x00 case"}, headers=auth)
    assert r.status_code == 200 and [t["id"] for t in r.json()] == [number]
    assert client.get("/api/tickets", params={"type": "x\x00"}, headers=auth).status_code == 422
