"""The rules editor and the email template editor, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from postdesk.admin.app import create_app
from postdesk.gateway.app import App
from postdesk.inbound.message import Envelope
from postdesk.outbound.template_check import builtin_part
from postdesk.store.config_models import ConfigDocument, ConfigRevision
from postdesk.store.models import AuditEntry, OutboxItem, Ticket
from tests.admin.conftest import add_agent, csrf_of, sign_in
from tests.support.mail import client_mail

ASSIGN_TO_BOB = """\
rules:
  - name: vip-to-bob
    description: Mail about invoices goes to Bob
    events: [ticket.created]
    when:
      - {field: message.subject, contains: invoice}
    then:
      - assign: {agent: bob@staff.example}
"""
BAD_RULES = """\
rules:
  - name: broken-rule
    events: [ticket.created]
    when:
      - {field: message.subject, regex: "(unclosed"}
    then:
      - assign: {agent: bob@staff.example}
"""
CONFIG_PAGES = ("/admin/config/rules", "/admin/config/templates", "/admin/config/templates/ack")


def _documents(app: App) -> int:
    with app.db.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(ConfigDocument)) or 0)


def test_agents_may_not_open_configuration_pages(app: App, client: TestClient) -> None:
    add_agent(app, "ana@staff.example", "agent")
    token = sign_in(client, "ana@staff.example")
    for path in CONFIG_PAGES:
        assert client.get(path).status_code == 403, path
    for path, data in (
        ("/admin/config/rules", {"text": ASSIGN_TO_BOB}),
        ("/admin/config/rules/revert", {}),
        ("/admin/config/rules/dry-run", {"text": ASSIGN_TO_BOB, "raw": "Subject: x\n\nx"}),
        ("/admin/config/templates/ack", {"subject": "x", "txt": "y"}),
        ("/admin/config/templates/ack/reset", {}),
    ):
        r = client.post(path, data=data | {"csrf_token": token}, follow_redirects=False)
        assert r.status_code == 403, path
    assert _documents(app) == 0
    # The knowledge base is content: agents edit it.
    assert client.get("/admin/kb").status_code == 200


def test_posts_without_the_csrf_token_are_refused(app: App, client: TestClient) -> None:
    add_agent(app, "boss@staff.example", "manager")
    sign_in(client, "boss@staff.example")
    for path, data in (
        ("/admin/config/rules", {"text": ASSIGN_TO_BOB}),
        ("/admin/config/rules/revert", {}),
        ("/admin/config/templates/ack", {"subject": "x", "txt": "y"}),
        ("/admin/config/templates/ack/reset", {}),
        ("/admin/kb/articles", {"title": "How?", "body": "So."}),
        ("/admin/kb/categories", {"name": "Billing"}),
    ):
        r = client.post(path, data=data, follow_redirects=False)
        assert r.status_code == 403, path
        assert "CSRF" in r.text
    assert _documents(app) == 0


def test_invalid_rules_are_refused_and_the_old_rules_stay(app: App, client: TestClient) -> None:
    add_agent(app, "boss@staff.example", "manager")
    add_agent(app, "bob@staff.example", "agent")
    token = sign_in(client, "boss@staff.example")
    before = [r.name for r in app.rules]
    r = client.post("/admin/config/rules", data={"text": BAD_RULES, "csrf_token": token})
    assert r.status_code == 422
    # The loader's own message: the rule and the field named, shown inline.
    assert "rule &#39;broken-rule&#39; (rules[0]) when[0].regex" in r.text
    assert "Not saved" in r.text and "(unclosed" in r.text  # the text is kept in the editor
    r = client.post("/admin/config/rules", data={"text": "rules: [", "csrf_token": token})
    assert r.status_code == 422 and "not valid YAML" in r.text
    assert _documents(app) == 0
    app.documents.invalidate()
    assert [r.name for r in app.rules] == before


def test_saved_rules_run_in_every_process_and_revert(app: App, client: TestClient) -> None:
    add_agent(app, "boss@staff.example", "admin")
    add_agent(app, "bob@staff.example", "agent")
    other = App(app.settings)  # a second gateway process on the same database
    try:
        assert "vip-to-bob" not in [r.name for r in other.rules]
        token = sign_in(client, "boss@staff.example")
        r = client.post("/admin/config/rules", data={"text": ASSIGN_TO_BOB, "csrf_token": token})
        assert r.status_code == 200 and "rules saved (version 1)" in r.text
        assert "vip-to-bob" in r.text  # listed among the rules in force
        # This process at once; the other within the cache's few seconds.
        assert "vip-to-bob" in [r.name for r in app.rules]
        deadline = time.monotonic() + 10
        while "vip-to-bob" not in [r.name for r in other.rules]:
            assert time.monotonic() < deadline, "the other process never saw the edit"
            time.sleep(0.2)
        raw = client_mail("carl@client.example", "support@example.com", "My invoice", "Wrong.")
        other.accept(raw, Envelope("carl@client.example", ("support@example.com",)))
        with other.db.sessions() as s:
            ticket = s.scalars(select(Ticket)).one()
            assert ticket.assignee is not None and ticket.assignee.email == "bob@staff.example"
        # Every save is recorded: who and when; revert goes back to the file.
        r = client.post("/admin/config/rules/revert", data={"csrf_token": csrf_of(r.text)})
        assert r.status_code == 200 and "back to the rules file (version 2)" in r.text
        assert "vip-to-bob" not in [r.name for r in app.rules]
        with app.db.sessions() as s:
            saves = s.scalars(select(ConfigRevision).order_by(ConfigRevision.id)).all()
            assert [(v.version, v.by, v.body is None) for v in saves] == [
                (1, "boss@staff.example", False),
                (2, "boss@staff.example", True),
            ]
    finally:
        other.close()


def test_dry_run_of_unsaved_rules_stores_and_sends_nothing(app: App, client: TestClient) -> None:
    add_agent(app, "boss@staff.example", "manager")
    add_agent(app, "bob@staff.example", "agent")
    token = sign_in(client, "boss@staff.example")
    raw = client_mail("carl@client.example", "support@example.com", "Invoice 12", "Wrong total.")
    r = client.post(
        "/admin/config/rules/dry-run",
        data={"text": ASSIGN_TO_BOB, "raw": raw.decode(), "csrf_token": token},
    )
    assert r.status_code == 200, r.text
    assert "vip-to-bob on ticket.created: fires" in r.text
    assert "bob@staff.example" in r.text  # the assignment it would make
    assert "ack to carl@client.example" in r.text  # and the acknowledgement
    with app.db.sessions() as s:
        for model in (Ticket, OutboxItem, AuditEntry, ConfigDocument):
            assert s.scalar(select(func.count()).select_from(model)) == 0, model
    r = client.post(
        "/admin/config/rules/dry-run", data={"text": BAD_RULES, "raw": "x", "csrf_token": token}
    )
    assert r.status_code == 422 and "broken-rule" in r.text


HOSTILE = {
    "syntax": ("{% if %}", "syntax error"),
    "unknown variable": ("Hello {{ no_such_thing }}", "unknown variable"),
    "sandbox": ("{{ ''.__class__.__mro__ }}", "refused by the sandbox"),
    "sandbox via object": ("{{ ticket.__class__ }}", "refused by the sandbox"),
    "runtime": ("{{ 1 / 0 }}", "ZeroDivisionError"),
}


def test_broken_and_hostile_templates_are_refused(app: App, client: TestClient) -> None:
    add_agent(app, "boss@staff.example", "manager")
    token = sign_in(client, "boss@staff.example")
    for label, (text, said) in HOSTILE.items():
        for part in ("txt", "html", "subject"):
            r = client.post(
                "/admin/config/templates/ack",
                data={"subject": "S", "txt": "T", part: text, "csrf_token": token},
            )
            assert r.status_code == 422, (label, part)
            assert "Not saved" in r.text and said in r.text, (label, part, r.text[-2000:])
            assert f"{part}:" in r.text  # the part is named
    assert client.get("/admin/config/templates/nosuch").status_code == 404
    r = client.post(
        "/admin/config/templates/ack",
        data={"subject": "S\x00", "txt": "T", "action": "preview", "csrf_token": token},
    )
    assert r.status_code == 200 and '<strong id="preview-subject">S</strong>' in r.text
    assert _documents(app) == 0


def test_preview_save_and_reset_of_a_template(app: App, client: TestClient) -> None:
    add_agent(app, "boss@staff.example", "manager")
    token = sign_in(client, "boss@staff.example")
    listing = client.get("/admin/config/templates")
    for name in ("ack", "agent_notification", "agent_reply", "resolved", "pending_reminder"):
        assert f'href="/admin/config/templates/{name}"' in listing.text
    txt = "Dear {{ requester_name or 'client' }}, ticket {{ ticket.number }} is ours now.\n"
    html = "<p>Dear <b>{{ requester_name }}</b></p><script>x</script>"
    form = {"subject": "Got it: {{ ticket.subject }}", "txt": txt, "html": html}
    r = client.post(
        "/admin/config/templates/ack", data=form | {"action": "preview", "csrf_token": token}
    )
    assert r.status_code == 200
    assert "Got it: The printer is on fire" in r.text  # sample data
    assert "Dear Carl Client, ticket 1042 is ours now." in r.text
    assert 'sandbox srcdoc="&lt;p&gt;Dear &lt;b&gt;Carl Client' in r.text  # escaped, sandboxed
    assert _documents(app) == 0  # a preview stores nothing
    r = client.post(
        "/admin/config/templates/ack", data=form | {"action": "save", "csrf_token": token}
    )
    assert r.status_code == 200 and "saved ack: subject, txt, html" in r.text
    raw = client_mail("Carl <carl@client.example>", "support@example.com", "Help", "Please.")
    app.accept(raw, Envelope("carl@client.example", ("support@example.com",)))
    with app.db.sessions() as s:
        ack = s.scalars(select(OutboxItem).where(OutboxItem.kind == "ack")).one()
        assert ack.subject == "[#1] Got it: Help"  # the composer keeps the ticket tag
    r = client.post("/admin/config/templates/ack/reset", data={"csrf_token": token})
    assert "ack is the built-in template again" in r.text
    assert app.renderer.render("ack", _ctx()).text.startswith("Hello Carl")
    assert builtin_part("ack", "txt") in r.text.replace("&#39;", "'").replace("&#34;", '"')


def _ctx() -> dict[str, object]:
    from postdesk.outbound.template_check import sample_contexts

    return sample_contexts("ack", "Example Support", "http://x")[0]


def test_a_second_process_renders_the_edit(app: App, client: TestClient) -> None:
    add_agent(app, "boss@staff.example", "manager")
    token = sign_in(client, "boss@staff.example")
    other = App(app.settings)
    try:
        assert other.renderer.render("ack", _ctx()).subject.startswith("[#1042]")
        form = {"subject": "Edited {{ ticket.number }}", "txt": "", "html": ""}
        client.post("/admin/config/templates/ack", data=form | {"csrf_token": token})
        deadline = time.monotonic() + 10
        while other.renderer.render("ack", _ctx()).subject != "Edited 1042":
            assert time.monotonic() < deadline, "the other process kept the old template"
            time.sleep(0.2)
    finally:
        other.close()


def test_configuration_pages_open_for_managers(app: App) -> None:
    add_agent(app, "boss@staff.example", "manager")
    with TestClient(create_app(app), base_url="http://127.0.0.1") as c:
        sign_in(c, "boss@staff.example")
        for path in CONFIG_PAGES:
            r = c.get(path)
            assert r.status_code == 200, path
        assert "assign-to-csm" in c.get("/admin/config/rules").text  # the built-in rules
