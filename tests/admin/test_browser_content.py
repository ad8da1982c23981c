"""The template editor in a real headless Chromium against a running gateway: edit the
acknowledgement, preview it, save it; the next ack on the loopback relay uses it."""

from __future__ import annotations

from pathlib import Path

from tests.admin import test_browser as browser
from tests.admin.conftest import add_agent
from tests.admin.test_browser import Live, _artifacts, _mail_to, _signed_in
from tests.support.mail import client_mail

live = browser.live  # the running gateway, relay and Chromium of the admin's browser tests
NEW_TEXT = """Dear {{ requester_name or "customer" }},

ticket {{ ticket.number }} is in good hands at {{ support_name }}.
{% for article in articles %}- {{ article.title }}: {{ article.url }}
{% endfor %}"""


async def test_edit_preview_and_use_the_ack_template(live: Live, tmp_path: Path) -> None:
    add_agent(live.app, "boss@staff.example", "manager")
    page, errors = await _signed_in(live, "boss@staff.example")
    await page.goto(f"{live.base}/admin/config/templates")
    await page.click("a[href='/admin/config/templates/ack']")
    await page.wait_for_selector("h1:has-text('Email template ack')")

    # A hostile edit is refused on the page, and nothing is stored.
    await page.fill("textarea[name=txt]", "{{ ''.__class__.__mro__ }}")
    await page.click("#save-template")
    error = await page.wait_for_selector("#template-error")
    assert "refused by the sandbox" in await error.inner_text()

    # Preview with sample data, then save.
    await page.fill("input[name=subject]", "We have it: {{ ticket.subject }}")
    await page.fill("textarea[name=txt]", NEW_TEXT)
    await page.click("#preview")
    await page.wait_for_selector("#preview-out")
    assert "We have it: The printer is on fire" in await page.inner_text("#preview-subject")
    preview = await page.inner_text("#preview-text")
    assert "Dear Carl Client" in preview and "ticket 1042 is in good hands" in preview
    frame_el = await page.wait_for_selector("iframe#preview-html")
    assert await frame_el.get_attribute("sandbox") == ""  # no script, no same origin
    frame = await frame_el.content_frame()
    assert frame is not None
    await frame.wait_for_selector("text=Thank you for contacting")  # the built-in HTML part
    await page.click("#save-template")
    await page.wait_for_selector("text=saved ack: subject, txt")
    await page.screenshot(path=str(_artifacts(tmp_path) / "template-editor.png"), full_page=True)

    # The next client mail over SMTP: its acknowledgement on the relay uses the edit.
    await live.mail(
        client_mail("Dana <dana@client.example>", "support@example.com", "Lost parcel", "Hi"),
        "dana@client.example",
    )
    [ack] = await _mail_to(live, "dana@client.example", 1)
    assert "We have it: Lost parcel" in str(ack.message["Subject"])
    text = ack.message.get_body(("plain",)).get_content()
    assert "Dear Dana," in text and "is in good hands at Example Support" in text

    # Reset to built-in: the next ack is the stock one again.
    await page.click("#reset-template")
    await page.wait_for_selector("text=ack is the built-in template again")
    await live.mail(
        client_mail("Eve <eve@client.example>", "support@example.com", "Another", "Hi"),
        "eve@client.example",
    )
    [ack] = await _mail_to(live, "eve@client.example", 1)
    assert "Thank you for contacting" in ack.message.get_body(("plain",)).get_content()
    # The sandboxed preview frame may log its blocked inline style; nothing else may fail.
    unexpected = [e for e in errors if "422" not in e and "Content Security Policy" not in e]
    assert unexpected == [], errors
