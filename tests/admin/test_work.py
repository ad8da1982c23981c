"""The ticket page's tasks and time, the JSON API for them and the CLI, over a real pipeline
and a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import re

from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from postdesk.gateway.app import App
from postdesk.gateway.cli import main
from postdesk.gateway.settings import Settings
from postdesk.inbound.message import Envelope
from postdesk.store.estimates import estimate_of, record_actual
from postdesk.store.models import AuditEntry, Ticket
from postdesk.store.task_models import TicketTask
from tests.admin.conftest import add_agent, add_token, sign_in
from tests.support.mail import client_mail

SUPPORT = "support@example.com"


def _receive(app: App, subject: str, body: str, sender: str = "ana@client.example") -> int:
    raw = client_mail(f"Ana <{sender}>", SUPPORT, subject, body)
    accepted = app.accept(raw, Envelope(sender, (SUPPORT,)))
    assert accepted.processed is not None and accepted.processed.ticket_id is not None
    return accepted.processed.ticket_id


def _trail(app: App, number: int) -> list[tuple[str, str | None, str | None]]:
    with app.db.sessions() as s:
        rows = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.ticket_id == number, AuditEntry.action.like("task%"))
            .order_by(AuditEntry.id)
        ).all()
        return [(e.action, e.old_value, e.new_value) for e in rows]


def _with_history(app: App) -> int:
    """Two resolved VPN tickets, then a new one that gets a suggestion."""
    for i, minutes in enumerate((60, 70)):
        done = _receive(
            app, "VPN tunnel drops", "The vpn tunnel drops every hour.", f"u{i}@x.example"
        )
        with app.db.transaction() as s:
            record_actual(s, s.get(Ticket, done), minutes, actor="t@example.com", now=app.clock())  # type: ignore[arg-type]
    return _receive(app, "VPN tunnel keeps dropping", "Our vpn tunnel drops again.")


def test_tasks_on_the_ticket_page_escaped_audited_and_javascript_refused(
    app: App, client: TestClient
) -> None:
    number = _receive(app, "Printer", "It burns")
    add_agent(app, "ana@staff.example")
    csrf = sign_in(client, "ana@staff.example")
    bad = client.post(
        f"/admin/tickets/{number}/tasks",
        data={"csrf_token": csrf, "title": "Evil", "url": "javascript:alert(1)"},
    )
    assert bad.status_code == 422
    assert 'id="work-error"' in bad.text
    assert "must be an http:// or https:// address" in bad.text
    with app.db.sessions() as s:
        assert s.scalars(select(TicketTask)).all() == []

    title = 'Fix <b>"driver"</b>'
    r = client.post(
        f"/admin/tickets/{number}/tasks",
        data={"csrf_token": csrf, "title": title, "url": "https://jira.example/T-1?a=1&b=2"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    client.post(
        f"/admin/tickets/{number}/tasks",
        data={
            "csrf_token": csrf,
            "title": "Call back",
            "assignee": "ana@staff.example",
            "due": "2026-12-01",
        },
    )
    page = client.get(f"/admin/tickets/{number}").text
    assert "<b>" not in page.split('id="tasks"')[1].split("</ul>")[0]
    assert "Fix &lt;b&gt;&#34;driver&#34;&lt;/b&gt;</a>" in page
    link = re.search(
        r'<a href="(https://jira[^"]*)" rel="noopener noreferrer" target="_blank">', page
    )
    assert link and link.group(1) == "https://jira.example/T-1?a=1&amp;b=2"
    assert "ana@staff.example · due 2026-12-01" in page

    with app.db.sessions() as s:
        first, follow = s.scalars(select(TicketTask).order_by(TicketTask.id)).all()
    assert (first.kind, follow.kind) == ("external", "internal")
    client.post(
        f"/admin/tickets/{number}/tasks/{follow.id}/state",
        data={"csrf_token": csrf, "value": "done"},
    )
    client.post(f"/admin/tickets/{number}/tasks/{first.id}/remove", data={"csrf_token": csrf})
    other = _receive(app, "Other", "Another ticket", "bo@client.example")
    wrong = client.post(
        f"/admin/tickets/{other}/tasks/{follow.id}/state", data={"csrf_token": csrf}
    )
    assert wrong.status_code == 404  # a task of another ticket
    assert _trail(app, number) == [
        ("task_added", None, 'Fix <b>"driver"</b>'),
        ("task_added", None, "Call back"),
        ("task_state", "open", "done"),
        ("task_removed", 'Fix <b>"driver"</b>', None),
    ]


def test_suggestion_shown_accepted_changed_and_time_recorded_on_resolution(
    app: App, client: TestClient
) -> None:
    number = _with_history(app)
    add_agent(app, "ana@staff.example")
    csrf = sign_in(client, "ana@staff.example")
    page = client.get(f"/admin/tickets/{number}").text
    shown = re.search(r"Suggested: (\d+) min \((High|Medium|Low)\) &mdash; ([^<]+)</p>", page)
    assert shown, "the page shows the suggestion"
    suggested = int(shown.group(1))
    assert 60 <= suggested <= 70

    client.post(f"/admin/tickets/{number}/estimate", data={"csrf_token": csrf, "accept": "1"})
    with app.db.sessions() as s:
        est = estimate_of(s, number)
        assert est is not None and (est.agent_minutes, est.estimated_by) == (
            suggested,
            "ana@staff.example",
        )
    refused = client.post(
        f"/admin/tickets/{number}/estimate", data={"csrf_token": csrf, "minutes": "soon"}
    )
    assert refused.status_code == 422 and "minutes are a whole number" in refused.text
    client.post(f"/admin/tickets/{number}/estimate", data={"csrf_token": csrf, "minutes": "90"})

    bad = client.post(
        f"/admin/tickets/{number}/time", data={"csrf_token": csrf, "minutes": "-5", "resolve": "1"}
    )
    assert bad.status_code == 422 and 'id="work-error"' in bad.text
    with app.db.sessions() as s:
        assert s.get(Ticket, number).status != "resolved"  # type: ignore[union-attr]
    r = client.post(
        f"/admin/tickets/{number}/time",
        data={"csrf_token": csrf, "minutes": "75", "resolve": "1"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    with app.db.sessions() as s:
        ticket = s.get(Ticket, number)
        est = estimate_of(s, number)
        assert ticket is not None and ticket.status == "resolved"
        assert est is not None and (est.agent_minutes, est.actual_minutes) == (90, 75)
        fields = s.scalars(
            select(AuditEntry.field).where(
                AuditEntry.ticket_id == number, AuditEntry.field.is_not(None)
            )
        ).all()
    assert {"estimate", "time_spent", "status"} <= set(fields)
    assert "Time spent: 75 min" in client.get(f"/admin/tickets/{number}").text


def test_resolving_without_minutes_is_allowed(app: App, client: TestClient) -> None:
    number = _receive(app, "Printer", "It burns")
    add_agent(app, "ana@staff.example")
    csrf = sign_in(client, "ana@staff.example")
    client.post(f"/admin/tickets/{number}/time", data={"csrf_token": csrf, "resolve": "1"})
    with app.db.sessions() as s:
        assert s.get(Ticket, number).status == "resolved"  # type: ignore[union-attr]
        est = estimate_of(s, number)
        assert est is None or est.actual_minutes is None


def test_tasks_and_time_api(app: App, client: TestClient) -> None:
    number = _with_history(app)
    token = add_token(app, add_agent(app, "bot@staff.example"))
    auth = {"Authorization": f"Bearer {token}"}
    base = f"/api/tickets/{number}"
    assert client.get(f"{base}/tasks").status_code == 401
    bad = client.post(
        f"{base}/tasks", json={"title": "x", "url": "javascript:alert(1)"}, headers=auth
    )
    assert bad.status_code == 422 and "http://" in bad.json()["detail"]
    made = client.post(
        f"{base}/tasks",
        json={"title": "Ticket in Jira", "url": "https://jira.example/T-2", "state": "In Progress"},
        headers=auth,
    )
    assert made.status_code == 201, made.text
    task = made.json()
    assert (task["kind"], task["state"]) == ("external", "in progress")
    follow = client.post(
        f"{base}/tasks", json={"title": "Call back", "due_on": "2026-12-01"}, headers=auth
    ).json()
    assert (
        client.patch(
            f"{base}/tasks/{follow['id']}", json={"state": "later"}, headers=auth
        ).status_code
        == 422
    )
    assert (
        client.patch(f"{base}/tasks/{follow['id']}", json={"state": "done"}, headers=auth).json()[
            "state"
        ]
        == "done"
    )
    assert [t["title"] for t in client.get(f"{base}/tasks", headers=auth).json()] == [
        "Ticket in Jira",
        "Call back",
    ]
    assert client.delete(f"{base}/tasks/{task['id']}", headers=auth).status_code == 204
    assert client.delete(f"{base}/tasks/{task['id']}", headers=auth).status_code == 404

    est = client.get(f"{base}/estimate", headers=auth).json()
    assert est["suggested_minutes"] and est["confidence"] in ("High", "Medium", "Low")
    accepted = client.put(f"{base}/estimate", json={"accept": True}, headers=auth).json()
    assert accepted["agent_minutes"] == est["suggested_minutes"]
    assert client.put(f"{base}/estimate", json={"minutes": 0}, headers=auth).status_code == 422
    done = client.post(f"{base}/time", json={"minutes": 50, "resolve": True}, headers=auth)
    assert done.status_code == 200 and done.json()["actual_minutes"] == 50
    assert client.get(f"/api/tickets/{number}", headers=auth).json()["status"] == "resolved"
    assert _trail(app, number)[-1] == ("task_removed", "Ticket in Jira", None)


def _cli(settings: Settings, *args: str) -> tuple[int, str]:
    env = {
        "POSTDESK_DATA_DIR": str(settings.data_dir),
        "POSTDESK_DATABASE_URL": settings.resolved_database_url,
        "POSTDESK_SECRET_KEY": "test-secret-key-0123456789",
    }
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


def test_cli_tasks_and_time(app: App, settings: Settings) -> None:
    number = _receive(app, "Printer", "It burns")
    code, out = _cli(
        settings, "tasks", "add", str(number), "--title", "Evil", "--url", "javascript:x"
    )
    assert code == 1 and "http:// or https://" in out
    code, out = _cli(
        settings,
        "tasks",
        "add",
        str(number),
        "--title",
        "Order toner",
        "--url",
        "https://shop.example/o/1",
    )
    assert code == 0 and "added" in out
    task_id = out.split()[1]
    code, out = _cli(settings, "tasks", "list", str(number))
    assert "open" in out and "Order toner" in out and "https://shop.example/o/1" in out
    assert _cli(settings, "tasks", "done", task_id, "--by", "ana@staff.example")[0] == 0
    assert "done" in _cli(settings, "tasks", "list", str(number))[1]
    code, out = _cli(settings, "tickets", "time", str(number), "35")
    assert code == 0 and "35 min spent" in out
    assert _cli(settings, "tickets", "time", str(number), "lots")[0] == 1
    with app.db.sessions() as s:
        est = estimate_of(s, number)
        assert est is not None and est.actual_minutes == 35
    assert _trail(app, number) == [
        ("task_added", None, "Order toner"),
        ("task_state", "open", "done"),
    ]
