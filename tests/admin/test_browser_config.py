"""The configuration pages in a real headless Chromium: a support address and a client with
its CSM configured in the browser, then mail to that new address over real SMTP becomes a
ticket in Open, and the reply from the page reaches the client through the capturing relay."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.admin.conftest import add_agent
from tests.admin.test_browser import (  # noqa: F401 - the live fixture and its helpers
    Live,
    _artifacts,
    _mail_to,
    _signed_in,
    live,
)
from tests.support.mail import client_mail, smtp_send

PAGES = ["Support addresses", "SMTP & relay", "IMAP mailboxes", "Teams & escalation", "API tokens"]


async def test_configure_an_address_and_a_client_then_mail_and_reply(
    live: Live,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    add_agent(live.app, "boss@staff.example", "admin")
    add_agent(live.app, "csm@staff.example", "agent")
    page, errors = await _signed_in(live, "boss@staff.example")

    # Every configuration page is reachable from the sub-navigation.
    await page.goto(f"{live.base}/admin/config")
    for name in PAGES:
        await page.click(f"nav.subnav >> text={name}")
        await page.wait_for_selector(f"h1:has-text('{name.split(' ')[0]}')")

    # A new support address, with an inline error first for a bad one.
    await page.goto(f"{live.base}/admin/config/addresses")
    form = "form#add-address"
    await page.fill(f"{form} input[name=address]", "sales at example")
    await page.click(f"{form} button[type=submit]")
    error = await page.wait_for_selector("#form-error")
    assert "not a plain address" in await error.inner_text()
    await page.fill(f"{form} input[name=address]", "sales@example.com")
    await page.fill(f"{form} input[name=display_name]", "Example Sales")
    await page.click(f"{form} button[type=submit]")
    await page.wait_for_selector("text=added sales@example.com")
    assert "added here" in await page.inner_text("table")
    await page.screenshot(path=str(_artifacts(tmp_path) / "config-addresses.png"), full_page=True)

    # The client and its CSM.
    await page.click("nav.subnav >> text=Agents & clients")
    orgs = "form[action='/admin/config/orgs']"
    await page.fill(f"{orgs} input[name=name]", "Client Co")
    await page.fill(f"{orgs} input[name=domains]", "client.example")
    await page.select_option(f"{orgs} select[name=csm]", "csm@staff.example")
    await page.click("text=Save client")
    await page.wait_for_selector("text=saved client Client Co")
    await page.screenshot(path=str(_artifacts(tmp_path) / "config-page.png"), full_page=True)

    # A client writes to the new address over SMTP: accepted, acknowledged from that address.
    raw = client_mail("Ana <ana@client.example>", "sales@example.com", "Bulk order", "50 units?")
    await asyncio.to_thread(
        smtp_send, live.gateway.smtp_port, raw, "ana@client.example", ["sales@example.com"]
    )
    [ack] = await _mail_to(live, "ana@client.example", 1)
    assert ack.message["From"].addresses[0].addr_spec == "sales@example.com"
    assert ack.message["From"].addresses[0].display_name == "Example Sales"
    [told] = await _mail_to(live, "csm@staff.example", 1)  # the client's CSM hears of it
    assert "Bulk order" in str(told.message["Subject"])

    await page.goto(f"{live.base}/admin/tickets?view=open")
    await page.click("text=Bulk order")
    await page.wait_for_selector("h1:has-text('Bulk order')")
    facts = await page.inner_text(".facts")
    assert "Client Co" in facts and "via sales@example.com" in facts

    await page.fill(".client textarea[name=body]", "Yes, 50 units ship on Monday.")
    await page.click("#send-reply")
    await page.wait_for_selector("text=Reply sent")
    reply = (await _mail_to(live, "ana@client.example", 2))[1]
    assert "ship on Monday" in reply.message.get_body(("plain",)).get_content()
    assert "sales@example.com" in str(reply.message["From"])

    # The Escalate button on the same page.
    await page.fill("input[name=reason]", "Large order")
    await page.click("#escalate")
    await page.wait_for_selector("text=escalation level 1")
    # Chromium logs the 422 of the refused address form; nothing else (no CSP violation).
    assert len(errors) == 1 and "422" in errors[0], errors
