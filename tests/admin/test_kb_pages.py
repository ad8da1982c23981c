"""Knowledge-base admin, the public help centre, and the ticket page's rules and articles."""

from __future__ import annotations

import email
import email.policy
import re
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from postdesk.gateway.app import App
from postdesk.inbound.message import Envelope
from postdesk.store.kb import ArticleData, upsert_article
from postdesk.store.kb_models import KbArticle, KbCategory
from postdesk.store.models import AuditEntry, OutboxItem, Ticket
from tests.admin.conftest import add_agent, sign_in
from tests.support.mail import client_mail

RESET = ArticleData(
    "reset-password",
    "How do I reset my password?",
    "Open **Settings**, choose *Password* and click reset. Your password reset link is mailed.",
    "Account and login",
    "published",
    ("password", "login"),
)


def _article(app: App, data: ArticleData) -> None:
    with app.db.transaction() as s:
        upsert_article(s, data, app.clock())


def test_agents_write_search_and_publish_articles(app: App, client: TestClient) -> None:
    add_agent(app, "ana@staff.example", "agent")
    token = sign_in(client, "ana@staff.example")
    assert "New article" in client.get("/admin/kb").text
    form = {
        "title": "How do I download my invoice?",
        "body": "Go to *Billing*.\n\n- open the month\n- click **PDF**\n",
        "category": "Billing",
        "tags": "invoice, PDF",
        "status": "draft",
        "csrf_token": token,
    }
    r = client.post("/admin/kb/articles", data=form)
    assert r.status_code == 200 and "article how-do-i-download-my-invoice created" in r.text
    assert "<li>click <strong>PDF</strong></li>" in r.text  # the reader's view, rendered
    with app.db.sessions() as s:
        article = s.scalars(select(KbArticle)).one()
        assert (article.state, article.tags) == ("draft", ["invoice", "pdf"])
        assert article.category is not None and article.category.name == "Billing"
    # A bad field is shown on the form; nothing changes.
    r = client.post("/admin/kb/articles", data=form | {"title": " ", "original": ""})
    assert r.status_code == 422 and "an article needs a title" in r.text
    r = client.post("/admin/kb/articles", data=form | {"slug": "Not A Slug!"})
    assert r.status_code == 422 and "lower-case letters" in r.text
    # NUL characters (PostgreSQL refuses them) are dropped, never a 500.
    r = client.post("/admin/kb/articles", data=form | {"title": "Nul\x00?", "slug": "nul"})
    assert r.status_code == 200 and "article nul created" in r.text
    client.post("/admin/kb/articles", data=form | {"original": "nul", "slug": "gone"})
    assert client.get("/admin/kb?q=%00").status_code == 200
    assert client.get("/admin/kb/articles/%00").status_code == 404
    # Publish under a new address; search by state, category and text.
    edit = form | {"original": "how-do-i-download-my-invoice", "slug": "invoice-pdf"}
    r = client.post("/admin/kb/articles", data=edit | {"status": "published"})
    assert r.status_code == 200 and "article invoice-pdf updated" in r.text
    assert "invoice-pdf" in client.get("/admin/kb?q=billing&status=published").text
    assert "No articles." in client.get("/admin/kb?q=nothing-like-this").text
    drafts = client.get("/admin/kb?status=draft").text
    assert "/admin/kb/articles/gone" in drafts and "/admin/kb/articles/invoice-pdf" not in drafts
    with app.db.sessions() as s:
        assert sorted(s.scalars(select(KbArticle.slug))) == ["gone", "invoice-pdf"]
    # Another article may not take the same address.
    r = client.post("/admin/kb/articles", data=form | {"slug": "invoice-pdf"})
    assert r.status_code == 422 and "taken by another article" in r.text


def test_categories_are_created_and_renamed(app: App, client: TestClient) -> None:
    add_agent(app, "ana@staff.example", "agent")
    token = sign_in(client, "ana@staff.example")
    r = client.post("/admin/kb/categories", data={"name": "Biling", "csrf_token": token})
    assert "category Biling saved" in r.text
    with app.db.sessions() as s:
        cid = s.scalars(select(KbCategory.id)).one()
    r = client.post(
        f"/admin/kb/categories/{cid}/rename", data={"name": "Billing", "csrf_token": token}
    )
    assert "category renamed to Billing" in r.text
    client.post("/admin/kb/categories", data={"name": "Account", "csrf_token": token})
    r = client.post(
        f"/admin/kb/categories/{cid}/rename", data={"name": "account", "csrf_token": token}
    )
    assert "cannot rename" in r.text  # the slug belongs to the other one
    with app.db.sessions() as s:
        assert sorted(s.scalars(select(KbCategory.slug))) == ["account", "billing"]


def test_public_pages_show_published_articles_only(app: App, client: TestClient) -> None:
    _article(app, RESET)
    hostile = "<p onclick=\"steal()\">Fine</p><script>steal()</script><a href='javascript:x'>x</a>"
    _article(app, ArticleData("hostile", "Is this safe?", hostile, "", "published"))
    _article(app, ArticleData("secret-draft", "Not yet?", "Draft text.", "Billing", "draft"))
    r = client.get("/kb")  # no sign-in
    assert r.status_code == 200
    assert "Account and login" in r.text and 'href="/kb/reset-password"' in r.text
    assert "Other questions" in r.text and "Not yet?" not in r.text
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    r = client.get("/kb/reset-password")
    assert r.status_code == 200
    assert "<strong>Settings</strong>" in r.text and "How do I reset my password?" in r.text
    r = client.get("/kb/hostile")
    body = r.text.lower()
    assert "fine" in body and "<script" not in body and "onclick" not in body
    assert "javascript:" not in body
    for missing in ("/kb/secret-draft", "/kb/no-such-article", "/kb/%00", "/kb/Reset-Password"):
        r = client.get(missing)
        assert r.status_code == 404 and "does not exist" in r.text, missing
        assert "Draft text" not in r.text


def test_an_ack_link_opens_the_article(app: App, client: TestClient) -> None:
    _article(app, RESET)
    app.accept(_password_mail(), Envelope("carl@client.example", ("support@example.com",)))
    with app.db.sessions() as s:
        ack = s.scalars(select(OutboxItem).where(OutboxItem.kind == "ack")).one()
    message = email.message_from_bytes(ack.raw, policy=email.policy.default)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    urls = re.findall(r"https?://\S+/kb/[a-z0-9-]+", text)
    assert urls, text
    base, url = urlsplit(app.settings.portal_url), urlsplit(urls[0])
    assert (url.scheme, url.netloc) == (base.scheme, base.netloc)  # the admin's own address
    r = client.get(url.path)
    assert r.status_code == 200 and "How do I reset my password?" in r.text


def _password_mail() -> bytes:
    return client_mail(
        "Carl <carl@client.example>",
        "support@example.com",
        "Password reset",
        "I forgot my password and the reset link never came. How do I reset my password?",
    )


def test_ticket_page_shows_rule_decisions_and_suggested_articles(
    app: App, client: TestClient
) -> None:
    _article(app, RESET)
    add_agent(app, "ana@staff.example", "agent")
    app.accept(_password_mail(), Envelope("carl@client.example", ("support@example.com",)))
    sign_in(client, "ana@staff.example")
    with app.db.sessions() as s:
        number = s.scalars(select(Ticket.id)).one()
    r = client.get(f"/admin/tickets/{number}")
    assert r.status_code == 200
    decisions = r.text.split('id="rule-decisions"')[1].split("</section>")[0]
    assert "acknowledge" in decisions and "notify-new-ticket" in decisions
    assert "suggest_articles" in decisions
    articles = r.text.split('id="suggested-articles"')[1].split("</section>")[0]
    assert "Sent to the client" in articles
    assert '<a href="/kb/reset-password">How do I reset my password?</a>' in articles
    # A ticket from before suggestions were sent: what the KB would suggest now, marked so.
    with app.db.transaction() as s:
        s.execute(delete(AuditEntry).where(AuditEntry.action == "kb_suggested"))
    articles = client.get(f"/admin/tickets/{number}").text.split('id="suggested-articles"')[1]
    assert "None were sent; the knowledge base would suggest now" in articles
    assert 'href="/kb/reset-password"' in articles
