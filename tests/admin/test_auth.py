"""Sign-in, sessions, CSRF, roles and the login rate limit, over a real database."""

from __future__ import annotations

from fastapi.testclient import TestClient

from postdesk.gateway.app import App
from tests.admin.conftest import PASSWORD, add_agent, csrf_of, sign_in


def test_pages_need_a_session(client: TestClient) -> None:
    r = client.get("/admin/tickets?view=open", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/admin/login")


def test_sign_in_sets_a_hardened_cookie_and_opens_the_views(app: App, client: TestClient) -> None:
    add_agent(app, "ana@staff.example", "agent")
    sign_in(client, "ana@staff.example")
    cookie = [v for k, v in client.cookies.jar._cookies.items()]  # noqa: F841 - jar present
    r = client.get("/admin/tickets?view=open")
    assert r.status_code == 200
    assert "Open" in r.text and "Waiting for client" in r.text
    set_cookie = (
        client.post(
            "/admin/login",
            data={
                "email": "ana@staff.example",
                "password": PASSWORD,
                "csrf_token": csrf_of(r.text),
            },
            follow_redirects=False,
        )
        .headers["set-cookie"]
        .lower()
    )
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie
    assert "secure" not in set_cookie  # the portal URL is http here


def test_wrong_password_is_refused(app: App, client: TestClient) -> None:
    add_agent(app, "ana@staff.example")
    token = csrf_of(client.get("/admin/login").text)
    r = client.post(
        "/admin/login",
        data={"email": "ana@staff.example", "password": "wrong password", "csrf_token": token},
    )
    assert r.status_code == 401
    assert "Wrong address or password" in r.text
    assert client.get("/admin/tickets", follow_redirects=False).status_code == 303


def test_post_without_csrf_token_is_refused(app: App, client: TestClient) -> None:
    add_agent(app, "ana@staff.example")
    sign_in(client, "ana@staff.example")
    r = client.post("/admin/notifications/read", data={})
    assert r.status_code == 403
    r = client.post("/admin/notifications/read", data={"csrf_token": "forged"})
    assert r.status_code == 403
    # The login form itself is protected too (login CSRF).
    fresh = TestClient(client.app, base_url="http://127.0.0.1")
    r = fresh.post("/admin/login", data={"email": "ana@staff.example", "password": PASSWORD})
    assert r.status_code == 403


def test_agents_cannot_open_configuration(app: App, client: TestClient) -> None:
    add_agent(app, "ana@staff.example", "agent")
    token = sign_in(client, "ana@staff.example")
    assert client.get("/admin/config").status_code == 403
    assert client.get("/admin/inbox").status_code == 403
    r = client.post(
        "/admin/config/agents",
        data={"email": "evil@staff.example", "role": "admin", "csrf_token": token},
    )
    assert r.status_code == 403


def test_admin_configures_agents_and_clients(app: App, client: TestClient) -> None:
    add_agent(app, "boss@staff.example", "admin")
    token = sign_in(client, "boss@staff.example")
    r = client.post(
        "/admin/config/agents",
        data={"email": "csm@staff.example", "name": "Cee", "role": "agent", "csrf_token": token},
    )
    assert r.status_code == 200  # followed the redirect
    r = client.post(
        "/admin/config/orgs",
        data={
            "name": "Client Co",
            "domains": "client.example",
            "csm": "csm@staff.example",
            "csrf_token": token,
        },
    )
    assert "client.example" in r.text and "csm@staff.example" in r.text
    r = client.post(
        "/admin/config/orgs",
        data={"name": "Other", "domains": "client.example", "csrf_token": token},
    )
    assert r.status_code == 422 and "already belongs" in r.text


def test_login_rate_limit(app: App, client: TestClient) -> None:
    add_agent(app, "ana@staff.example")
    token = csrf_of(client.get("/admin/login").text)
    for _ in range(5):
        r = client.post(
            "/admin/login",
            data={"email": "ana@staff.example", "password": "wrong password", "csrf_token": token},
        )
        assert r.status_code == 401
    r = client.post(
        "/admin/login",
        data={"email": "ana@staff.example", "password": PASSWORD, "csrf_token": token},
    )
    assert r.status_code == 429  # even the right password waits out the window
    # Another address from the same client is not blocked by this one's failures.
    add_agent(app, "bob@staff.example")
    r = client.post(
        "/admin/login",
        data={"email": "bob@staff.example", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303


def test_deactivated_agent_loses_the_session(app: App, client: TestClient) -> None:
    from postdesk.store.models import Agent

    agent_id = add_agent(app, "ana@staff.example")
    sign_in(client, "ana@staff.example")
    with app.db.transaction() as s:
        s.get(Agent, agent_id).active = False  # type: ignore[union-attr]
    assert client.get("/admin/tickets", follow_redirects=False).status_code == 303
