"""The ticket page's tasks and time in a real headless Chromium against ``postdesk serve``:
a ``javascript:`` link is refused next to the form, a real link opens with no opener, the
suggestion is accepted and the ticket resolved with the time spent."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from postdesk.store.estimates import estimate_of, record_actual
from postdesk.store.models import Ticket
from postdesk.store.task_models import TicketTask
from tests.admin.conftest import add_agent
from tests.admin.test_browser import Live, _signed_in, live
from tests.support.mail import client_mail

__all__ = ["live"]  # the fixture


async def _ticket(live: Live, sender: str, subject: str, body: str) -> int:
    """Mail a new ticket over SMTP; its number once the pipeline has stored it."""
    await live.mail(client_mail(f"Client <{sender}>", "support@example.com", subject, body), sender)
    for _ in range(100):
        with live.app.db.sessions() as s:
            found = s.scalar(select(Ticket.id).where(Ticket.subject == subject))
        if found is not None:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"no ticket {subject!r}")


async def test_tasks_estimate_and_resolution_in_the_browser(live: Live) -> None:
    first = await _ticket(live, "a@one.example", "First VPN tunnel drops", "The vpn tunnel drops.")
    with live.app.db.transaction() as s:
        record_actual(s, s.get(Ticket, first), 60, actor="t@x", now=live.app.clock())  # type: ignore[arg-type]
    number = await _ticket(live, "b@two.example", "VPN tunnel drops again", "Our vpn tunnel drops.")
    add_agent(live.app, "ana@staff.example")
    page, errors = await _signed_in(live, "ana@staff.example")
    await page.goto(f"{live.base}/admin/tickets/{number}")
    assert "Suggested: 60 min" in await page.inner_text("#estimate-suggestion")

    await page.fill("#task-form input[name=title]", "Evil")
    await page.fill("#task-form input[name=url]", "javascript:alert(document.cookie)")
    await page.click("#add-task")
    assert "http:// or https://" in await page.inner_text("#work-error")
    with live.app.db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(TicketTask)) == 0

    await page.fill("#task-form input[name=title]", "Vendor case <42>")
    await page.fill("#task-form input[name=url]", "https://vendor.example/case/42")
    await page.click("#add-task")
    link = page.locator("#tasks a")
    assert await link.inner_text() == "Vendor case <42>"
    assert await link.get_attribute("rel") == "noopener noreferrer"
    assert await link.get_attribute("href") == "https://vendor.example/case/42"

    await page.click("#estimate-accept")
    assert "Estimate: 60 min by ana@staff.example" in await page.inner_text("#estimate-agent")
    await page.fill("form[action$='/time'] input[name=minutes]", "80")
    await page.click("#resolve-with-time")
    assert "Time spent: 80 min" in await page.inner_text("#time-spent")
    with live.app.db.sessions() as s:
        ticket = s.get(Ticket, number)
        est = estimate_of(s, number)
        assert ticket is not None and ticket.status == "resolved"
        assert est is not None and (est.agent_minutes, est.actual_minutes) == (60, 80)
    assert [e for e in errors if "422" not in e] == []  # the refused link answered 422
