"""Admin fixtures: the FastAPI app over a real migrated database, staff with passwords."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from postdesk.admin.app import create_app
from postdesk.admin.passwords import hash_password, new_token, token_hash
from postdesk.gateway.app import App
from postdesk.store.admin_models import ApiToken
from postdesk.store.models import Agent

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def add_agent(core: App, email: str, role: str = "agent", password: str = PASSWORD) -> int:
    with core.db.transaction() as s:
        agent = Agent(email=email, name=email.split("@")[0].title(), role=role)
        agent.password_hash = hash_password(password)
        s.add(agent)
        s.flush()
        return agent.id


def add_token(core: App, agent_id: int) -> str:
    token = new_token()
    with core.db.transaction() as s:
        s.add(ApiToken(agent_id=agent_id, token_hash=token_hash(token), name="test"))
    return token


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns the session's CSRF token for further posts."""
    token = csrf_of(client.get("/admin/login").text)
    r = client.post(
        "/admin/login",
        data={"email": email, "password": password, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/admin/tickets").text)


@pytest.fixture
def client(app: App) -> Iterator[TestClient]:
    with TestClient(create_app(app), base_url="http://127.0.0.1") as c:
        yield c
