"""The "Message client" page and the ticket page's "Request a document" form in a real headless
Chromium against ``postdesk serve``'s own loop, with the client answering over real SMTP."""

from __future__ import annotations

import email.policy
from email.message import EmailMessage
from pathlib import Path

from tests.admin.conftest import add_agent
from tests.admin.test_browser import Live, _artifacts, _mail_to, _signed_in, live  # noqa: F401


def _answer(parent: EmailMessage, files: dict[str, bytes]) -> bytes:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = "Ana <ana@client.example>"
    msg["To"] = parent["Reply-To"]
    msg["Subject"] = "Re: " + parent["Subject"]
    msg["Message-ID"] = "<answer-1@client.example>"
    msg["In-Reply-To"] = parent["Message-ID"]
    msg.set_content("Here it is.")
    for name, data in files.items():
        msg.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return msg.as_bytes()


async def test_message_client_and_request_a_document(live: Live, tmp_path: Path) -> None:  # noqa: F811
    add_agent(live.app, "carla@staff.example", "agent")
    page, errors = await _signed_in(live, "carla@staff.example")

    # From the ticket list to the "Message client" page; a document request is sent.
    await page.click("#message-client")
    await page.wait_for_url("**/admin/message-client")
    await page.fill("input[name=to]", "Ana <ana@client.example>")
    await page.fill("input[name=subject]", "Your mortgage application")
    await page.fill("textarea[name=body]", "We need your passport to go on.")
    await page.fill("textarea[name=documents]", "Passport")
    await page.click("#send-message")
    await page.wait_for_selector("text=Conversation started")
    row = page.locator("tr[data-document='Passport']")
    assert "requested" in await row.inner_text()
    [request] = await _mail_to(live, "ana@client.example", 1)
    assert "We need your passport" in request.message.get_body(("plain",)).get_content()

    # The client answers over SMTP with the file; the page shows it received, with a link.
    await live.mail(
        _answer(request.message, {"passport-ana.pdf": b"%PDF-1.4 ana"}), "ana@client.example"
    )
    for _ in range(50):
        await page.reload()
        if "received" in await row.inner_text():
            break
        await page.wait_for_timeout(100)
    assert "received" in await row.inner_text()
    link = row.locator("a")
    assert await link.inner_text() == "passport-ana.pdf"
    assert (await link.get_attribute("href") or "").startswith("/admin/attachments/")

    # "Request a document" on the ticket page: an empty form is refused inline, then a real one.
    await page.fill("#request-documents textarea[name=names]", "   ")
    await page.click("#request-document")  # the browser's "required" lets blanks through
    error = await page.wait_for_selector("#form-error")
    assert "name at least one document" in await error.inner_text()
    await page.fill("#request-documents textarea[name=names]", "Payslip\nBank statement")
    await page.fill("#request-documents input[name=note]", "Two more, please.")
    await page.click("#request-document")
    await page.wait_for_selector("text=Documents requested")
    assert "requested" in await page.locator("tr[data-document='Payslip']").inner_text()
    assert "requested" in await page.locator("tr[data-document='Bank statement']").inner_text()
    second = (await _mail_to(live, "ana@client.example", 2))[1]
    body = second.message.get_body(("plain",)).get_content()
    assert "Two more, please." in body and "- Bank statement" in body
    await page.screenshot(path=str(_artifacts(tmp_path) / "documents.png"), full_page=True)
    assert all("422" in e for e in errors), errors  # only the refused form's answer
