"""Runtime configuration pages over a real database (SQLite and PostgreSQL): roles, CSRF,
support addresses, teams, API tokens, mailboxes (without a server) and the Escalate button."""

from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from postdesk.admin.runtime.addresses import problem
from postdesk.admin.runtime.teams import NO_TEAM, teams_of
from postdesk.gateway.app import App
from postdesk.gateway.support_addresses import SupportAddresses, check_address
from postdesk.inbound.message import Envelope
from postdesk.store.enums import TicketType
from postdesk.store.models import Agent, Notification, Ticket
from postdesk.store.runtime_models import ImapMailboxRow, SupportAddressRow
from tests.admin.conftest import add_agent, sign_in
from tests.support.mail import client_mail

PAGES = ["addresses", "smtp", "mailboxes", "teams", "tokens"]
POSTS = [
    "addresses",
    "addresses/1/remove",
    "smtp/test",
    "mailboxes",
    "mailboxes/x/remove",
    "mailboxes/x/test",
    "teams/agents/1",
    "tokens",
    "tokens/1/revoke",
]


def _ticket(app: App, to: str = "support@example.com", subject: str = "Broken") -> int:
    raw = client_mail("ana@client.example", to, subject, "It does not work.")
    accepted = app.accept(raw, Envelope("ana@client.example", (to,)))
    assert accepted.processed is not None and accepted.processed.ticket_id
    return accepted.processed.ticket_id


def test_an_agent_is_refused_every_config_page(app: App, client: TestClient) -> None:
    add_agent(app, "ana@staff.example", "agent")
    token = sign_in(client, "ana@staff.example")
    for name in PAGES:
        assert client.get(f"/admin/config/{name}").status_code == 403, name
    for path in POSTS:
        r = client.post(f"/admin/config/{path}", data={"csrf_token": token})
        assert r.status_code == 403, path
    # The sub-navigation is reachable from the first configuration page for those who may.
    add_agent(app, "boss@staff.example", "manager")
    sign_in(client, "boss@staff.example")
    html = client.get("/admin/config").text
    for name in PAGES:
        assert f'href="/admin/config/{name}"' in html
    assert 'href="/admin/config/rules"' in html


def test_posts_without_csrf_are_refused(app: App, client: TestClient) -> None:
    add_agent(app, "boss@staff.example", "admin")
    sign_in(client, "boss@staff.example")
    for path in POSTS:
        assert client.post(f"/admin/config/{path}", data={}).status_code == 403, path
    number = _ticket(app)
    assert client.post(f"/admin/tickets/{number}/escalate", data={}).status_code == 403
    with app.db.sessions() as s:
        assert s.scalars(select(SupportAddressRow)).all() == []
        assert s.get(Ticket, number).escalation_level == 0  # type: ignore[union-attr]


def test_support_addresses_add_validate_and_remove(app: App, client: TestClient) -> None:
    add_agent(app, "boss@staff.example", "manager")
    token = sign_in(client, "boss@staff.example")
    page = client.get("/admin/config/addresses").text
    assert "support@example.com" in page and "from settings" in page
    assert "/remove" not in page  # the settings' address cannot be removed here

    for bad, why in [
        ("not an address", "not a plain address"),
        ("billing@localhost", "domain with a dot"),
        ("sales+x@example.com", "may not contain a plus sign"),
        ("support@example.com", "from settings"),
    ]:
        r = client.post("/admin/config/addresses", data={"csrf_token": token, "address": bad})
        assert r.status_code == 422, bad
        assert 'id="form-error"' in r.text and why in r.text, (bad, r.text)
        assert f'value="{bad}"' in r.text  # the form keeps what was typed

    form = {
        "csrf_token": token,
        "address": "Billing@Example.com",
        "display_name": "Billing",
        "default_type": "question",
        "default_team": "finance",
    }
    r = client.post("/admin/config/addresses", data=form)
    assert r.status_code == 200 and "added billing@example.com" in r.text
    assert "added here" in r.text
    r = client.post("/admin/config/addresses", data=form)
    assert r.status_code == 422 and "already a support address" in r.text

    # The pipeline takes the new address at once (same process) with its defaults.
    number = _ticket(app, "billing@example.com", "Invoice question")
    with app.db.sessions() as s:
        ticket = s.get(Ticket, number)
        assert ticket is not None
        assert ticket.support_address == "billing@example.com"
        assert ticket.type == TicketType.QUESTION and ticket.fields["team"] == "finance"
        row_id = s.scalar(select(SupportAddressRow.id))

    r = client.post(f"/admin/config/addresses/{row_id}/remove", data={"csrf_token": token})
    assert r.status_code == 200 and "removed billing@example.com" in r.text
    assert "billing@example.com" not in app.support.current()
    r = client.post(f"/admin/config/addresses/{row_id}/remove", data={"csrf_token": token})
    assert r.status_code == 404


def test_teams_page_changes_a_team_and_shows_the_hierarchy(app: App, client: TestClient) -> None:
    add_agent(app, "boss@staff.example", "manager")
    ana = add_agent(app, "ana@staff.example", "agent")
    root = add_agent(app, "root@staff.example", "admin")
    token = sign_in(client, "boss@staff.example")
    page = client.get("/admin/config/teams").text
    assert "manager: every manager" in page  # the default hierarchy
    assert 'href="/admin/config/rules"' in page
    r = client.post(f"/admin/config/teams/agents/{ana}", data={"csrf_token": token, "team": "L2"})
    assert r.status_code == 200 and "ana@staff.example is now in L2" in r.text
    assert re.search(r"<h3>L2</h3>\s*<table[^>]*>\s*<tbody>\s*<tr><td>ana@staff.example", r.text)
    # A manager does not change an admin.
    r = client.post(f"/admin/config/teams/agents/{root}", data={"csrf_token": token, "team": "x"})
    assert r.status_code == 403
    with app.db.sessions() as s:
        assert s.get(Agent, ana).team == "L2"  # type: ignore[union-attr]
        assert s.get(Agent, root).team is None  # type: ignore[union-attr]


def test_api_tokens_created_once_listed_and_revoked(app: App, client: TestClient) -> None:
    add_agent(app, "boss@staff.example", "manager")
    add_agent(app, "bot@staff.example", "agent")
    add_agent(app, "root@staff.example", "admin")
    token = sign_in(client, "boss@staff.example")
    r = client.post(
        "/admin/config/tokens",
        data={"csrf_token": token, "agent": "bot@staff.example", "name": "crm sync"},
    )
    assert r.status_code == 201
    match = re.search(r'<code id="new-token">(pdk_[^<]+)</code>', r.text)
    assert match, r.text
    secret = match.group(1)
    auth = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/tickets", headers=auth).status_code == 200
    page = client.get("/admin/config/tokens").text
    assert "crm sync" in page and secret not in page  # shown once only
    assert "bot@staff.example" in page and page.count("active") >= 1

    # A manager may not mint a token that acts as an admin; an unknown agent is a form error.
    r = client.post(
        "/admin/config/tokens", data={"csrf_token": token, "agent": "root@staff.example"}
    )
    assert r.status_code == 403
    r = client.post("/admin/config/tokens", data={"csrf_token": token, "agent": "who@x.example"})
    assert r.status_code == 422 and "no active agent" in r.text

    revoke = re.search(r'action="/admin/config/tokens/(\d+)/revoke"', page)
    assert revoke
    r = client.post(f"/admin/config/tokens/{revoke.group(1)}/revoke", data={"csrf_token": token})
    assert r.status_code == 200 and "revoked token crm sync" in r.text
    assert client.get("/api/tickets", headers=auth).status_code == 401


def test_mailbox_form_errors_add_and_remove(app: App, client: TestClient) -> None:
    add_agent(app, "boss@staff.example", "admin")
    token = sign_in(client, "boss@staff.example")
    assert "No mailboxes." in client.get("/admin/config/mailboxes").text
    good = {
        "csrf_token": token,
        "name": "sales",
        "host": "imap.example.com",
        "port": "993",
        "security": "tls",
        "username": "sales@example.com",
        "password": "pw-secret-123",
        "folder": "INBOX",
        "move_to": "Archive",
    }
    for change, why in [
        ({"name": "bad name!"}, "name"),
        ({"port": "nine"}, "port is a number"),
        ({"security": "ssl"}, "security"),
        ({"password": ""}, "a password is needed"),
        ({"move_to": "INBOX"}, "move_to must differ"),
    ]:
        r = client.post("/admin/config/mailboxes", data=good | change)
        assert r.status_code == 422, change
        assert 'id="form-error"' in r.text and why in r.text, (change, r.text)
    r = client.post("/admin/config/mailboxes", data=good)
    assert r.status_code == 200 and "added mailbox sales" in r.text
    assert "imap.example.com:993 (tls)" in r.text and "pw-secret-123" not in r.text
    r = client.post("/admin/config/mailboxes", data=good)
    assert r.status_code == 422 and "exists" in r.text
    with app.db.sessions() as s:
        row = s.scalars(select(ImapMailboxRow)).one()
        assert row.move_to == "Archive" and row.password == "pw-secret-123"
    r = client.post("/admin/config/mailboxes/sales/remove", data={"csrf_token": token})
    assert r.status_code == 200 and "removed mailbox sales" in r.text
    assert (
        client.post("/admin/config/mailboxes/sales/test", data={"csrf_token": token}).status_code
        == 404
    )


def test_relay_page_without_relay_names_the_sink(app: App, client: TestClient) -> None:
    add_agent(app, "boss@staff.example", "admin")
    token = sign_in(client, "boss@staff.example")
    page = client.get("/admin/config/smtp").text
    assert "Maildir" in page and "Largest message" in page
    r = client.post("/admin/config/smtp/test", data={"csrf_token": token, "to": "a b@c"})
    assert r.status_code == 422 and "one plain address" in r.text
    # Without a relay the test mail lands in the local sink: a success.
    r = client.post("/admin/config/smtp/test", data={"csrf_token": token, "to": "me@example.org"})
    assert r.status_code == 200 and "Sent: " in r.text


def test_escalate_button_raises_the_level_and_fires_the_rules(app: App, client: TestClient) -> None:
    add_agent(app, "ana@staff.example", "agent")
    boss = add_agent(app, "boss@staff.example", "manager")
    number = _ticket(app)
    token = sign_in(client, "ana@staff.example")  # any agent may escalate, as by mail
    page = client.get(f"/admin/tickets/{number}").text
    assert f'action="/admin/tickets/{number}/escalate"' in page
    r = client.post(
        f"/admin/tickets/{number}/escalate", data={"csrf_token": token, "reason": "VIP client"}
    )
    assert r.status_code == 200 and "Escalated" in r.text and "escalation level 1" in r.text
    with app.db.sessions() as s:
        ticket = s.get(Ticket, number)
        assert ticket is not None and ticket.escalation_level == 1
        internal = s.scalars(select(Ticket).where(Ticket.linked_ticket_id == number)).one()
        assert internal.type == TicketType.ESCALATION
        # The rules saw the change (as for an admin change): the managers were told.
        told = s.scalars(select(Notification).where(Notification.agent_id == boss)).all()
        assert [n.kind for n in told].count("escalated") == 1
    # A refused escalation is a form error, not a crash.
    client.post(
        f"/admin/tickets/{number}/change",
        data={"csrf_token": token, "field": "status", "value": "closed"},
    )
    r = client.post(f"/admin/tickets/{number}/escalate", data={"csrf_token": token})
    assert r.status_code == 422 and "closed ticket cannot be escalated" in r.text


def test_address_rules_and_provider_units() -> None:
    assert check_address(" Help@Example.COM ") == "help@example.com"
    for bad in ["", "a@b", "x <a@b.c>", "a@@b.c", "a,b@c.d", "a@.c.d"]:
        with pytest.raises(ValueError):
            check_address(bad)
    assert problem("a@b.c", "", {"a@b.c"}, set()) == "a@b.c is already a support address"
    assert problem("a@b.c", "nope", set(), set()) is not None
    assert problem("a@b.c", "question", set(), set()) is None
    fixed = SupportAddresses(["Support@Example.com"])
    assert fixed.current() == ("support@example.com",) and fixed.fresh() is not None
    grouped = teams_of([Agent(email="b", team="x"), Agent(email="a"), Agent(email="c", team="X2")])
    assert list(grouped) == ["x", "X2", NO_TEAM]


def test_known_never_waits_for_the_database_and_reloads_in_the_background(app: App) -> None:
    # On SQLite a read inside a write transaction of another connection would wait for it;
    # ``known()`` answers at once from the cache and a background thread reloads afterwards.
    support = SupportAddresses(["support@example.com"], app.db, ttl=0.0)
    with app.db.transaction() as s:
        s.add(SupportAddressRow(address="late@example.com", display_name="Late"))
        s.flush()
        assert support.known() == ("support@example.com",)
    deadline = time.monotonic() + 10
    while "late@example.com" not in support.known():
        assert time.monotonic() < deadline, "the background reload never happened"
        time.sleep(0.05)
    assert support.entry("late@example.com").display_name == "Late"  # type: ignore[union-attr]
