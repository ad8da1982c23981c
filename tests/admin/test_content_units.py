"""Small parts of the content pages: the article renderer and the documents cache."""

from __future__ import annotations

import pytest

from postdesk.admin.kb_html import article_html
from postdesk.gateway.app import App
from postdesk.store.config_docs import DocumentCache, save_document


def test_markdown_articles_become_safe_html() -> None:
    html = article_html(
        "## Steps\n\nOpen **Settings**, then *Password*.\n\n- one\n- two `<b>`\n\n"
        "1. first\n2. second\n\n[help](https://help.example/a?b=1&c=2) [x](javascript:alert(1))"
        "\n\n```\n<script>alert(1)</script>\n```\n<img src=x onerror=alert(1)>"
    )
    assert "<h2>Steps</h2>" in html
    assert "<strong>Settings</strong>" in html and "<em>Password</em>" in html
    assert "<ul><li>one</li><li>two <code>&lt;b&gt;</code></li></ul>" in html
    assert "<ol><li>first</li><li>second</li></ol>" in html
    assert 'href="https://help.example/a?b=1&amp;c=2"' in html
    assert 'href="javascript' not in html and "<img" not in html  # raw HTML is text in Markdown
    assert "<script" not in html and "&lt;script&gt;" in html  # code is shown, not run


def test_html_articles_are_sanitised() -> None:
    html = article_html(
        '<h2 onclick="x()">Hi</h2><script>bad()</script><iframe src="//e"></iframe>'
    )
    assert html == "<h2>Hi</h2>"


def test_the_cache_reads_again_after_its_ttl(app: App) -> None:
    clock = [0.0]
    cache = DocumentCache(app.db.engine, ttl=5, monotonic=lambda: clock[0])
    assert cache.get("rules") is None
    with app.db.transaction() as s:
        assert save_document(s, "rules", "rules: []", "a@staff.example", app.clock()) == 1
    clock[0] = 4.9
    assert cache.get("rules") is None  # within the TTL: not read again
    clock[0] = 5.0
    assert cache.get("rules") == "rules: []"
    assert cache.version("rules") == (("rules", 1),)
    with app.db.transaction() as s:
        assert save_document(s, "rules", None, "a@staff.example", app.clock()) == 2
    cache.invalidate()  # what a save in this process does
    assert cache.get("rules") is None and cache.version("rules") == (("rules", 2),)


def _ticket_with_assignee(app: App) -> int:
    from postdesk.inbound.message import Envelope
    from postdesk.store.models import Agent, Ticket
    from tests.support.mail import client_mail

    raw = client_mail("carl@client.example", "support@example.com", "Printer", "On fire")
    accepted = app.accept(raw, Envelope("carl@client.example", ("support@example.com",)))
    assert accepted.processed is not None and accepted.processed.ticket_id
    with app.db.transaction() as s:
        agent = Agent(email="ana@staff.example", name="Ana", password_hash="SECRET-HASH")
        s.add(agent)
        s.flush()
        ticket = s.get(Ticket, accepted.processed.ticket_id)
        assert ticket is not None and ticket.org is None
        ticket.assignee_id = agent.id
        return ticket.id


def _render_ack(app: App, ticket_id: int, subject: str):  # type: ignore[no-untyped-def]
    from postdesk.store.models import Ticket

    with app.db.transaction() as s:
        save_document(s, "email/ack.subject.j2", subject, "m@staff.example", app.clock())
    app.documents.invalidate()
    with app.db.sessions() as s:
        ticket = s.get(Ticket, ticket_id)
        context = {"ticket": ticket, "support_name": "Support", "portal_url": "http://x"}
        return app.renderer.render("ack", context | {"requester_name": "", "articles": []})


def test_a_template_reads_no_password_hash_of_a_real_row(app: App) -> None:
    ticket_id = _ticket_with_assignee(app)
    secret = "ticket.assignee.password_hash"
    sneaky = f"{{% if {secret} is defined %}}{{{{ {secret} }}}}{{% endif %}}x"
    assert "SECRET" not in _render_ack(app, ticket_id, sneaky).subject
    assert _render_ack(app, ticket_id, "by {{ ticket.assignee.name }}").subject == "by Ana"


def test_an_edited_template_that_fails_on_a_real_ticket_falls_back_to_the_file(app: App) -> None:
    from postdesk.outbound.template_check import TemplateProblem, check

    ticket_id = _ticket_with_assignee(app)
    broken = "About {{ ticket.org.name }}"  # this ticket has no organisation
    with pytest.raises(TemplateProblem):  # the editor refuses it: a new ticket has no org
        check("ack", {"subject": broken}, support_name="Support", portal_url="http://x")
    rendered = _render_ack(app, ticket_id, broken)  # stored anyway (say, by an older version)
    assert rendered.subject and "About" not in rendered.subject  # the built-in one
    direct = _render_ack(app, ticket_id, "{{ ticket.assignee.password_hash }}")
    assert "SECRET" not in direct.subject
