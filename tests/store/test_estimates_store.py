"""Estimates in the store: only support tickets get one, the history index is cached until the
resolved history changes, the client's ratios compare with the text-only estimate."""

from __future__ import annotations

from typing import Any

import pytest

from postdesk.gateway.app import App
from postdesk.rules.engine import Event, RuleContext
from postdesk.rules.estimate import Suggestion
from postdesk.rules.estimate_index import StoreEstimateIndex, client_ratios
from postdesk.rules.estimate_rule import SuggestEstimate
from postdesk.store.estimates import estimate_of, record_actual, record_suggestion, set_estimate
from postdesk.store.models import Contact, Message, Ticket
from postdesk.store.task_models import TicketEstimate
from postdesk.store.tasks import check_url
from postdesk.store.workflow import WorkflowError


def _ticket(app: App, kind: str, subject: str = "Printer jam", requester: int | None = None) -> int:
    with app.db.transaction() as s:
        t = Ticket(type=kind, subject=subject, requester_id=requester, created_at=app.clock())
        s.add(t)
        s.flush()
        s.add(
            Message(
                ticket_id=t.id,
                direction="in",
                message_id=f"m{t.id}@x",
                subject=subject,
                text_new=subject + " paper tray",
            )
        )
        return t.id


def _check(app: App, number: int) -> str | None:
    with app.db.sessions() as s:
        ticket = s.get(Ticket, number)
        assert ticket is not None
        ctx: Any = RuleContext(s, Event("ticket.created", number), ticket, app.clock(), None, None)  # type: ignore[arg-type]
        return SuggestEstimate().check(ctx)


def test_only_support_tickets_get_an_estimate(app: App) -> None:
    kinds = ["support", "question", "escalation", "conversation"]
    numbers = {k: _ticket(app, k) for k in kinds}
    assert {k: _check(app, n) is not None for k, n in numbers.items()} == {
        "support": True,
        "question": False,
        "escalation": False,
        "conversation": False,
    }
    with app.db.transaction() as s:
        t = s.get(Ticket, numbers["support"])
        assert t is not None
        record_suggestion(s, t, Suggestion(30, "Low", "r.", 1.0), actor="rule:x", now=app.clock())
    assert _check(app, numbers["support"]) is None  # never twice


def test_index_is_cached_until_an_actual_time_is_recorded(app: App) -> None:
    index = StoreEstimateIndex(rebuild_share=None)  # no rate limit: every change rebuilds
    first = _ticket(app, "support", "Printer jam")
    with app.db.sessions() as s:
        empty = index.index(s)
        assert len(empty) == 0 and index.index(s) is empty
    with app.db.transaction() as s:
        record_actual(s, s.get(Ticket, first), 40, actor="a@x", now=app.clock())  # type: ignore[arg-type]
    with app.db.sessions() as s:
        one = index.index(s)
        assert one is not empty and len(one) == 1 and index.index(s) is one
    with app.db.transaction() as s:
        record_actual(s, s.get(Ticket, first), 50, actor="a@x", now=app.clock())  # type: ignore[arg-type]
    with app.db.sessions() as s:
        again = index.index(s)
        assert again is not one and again.past[first].minutes == 50


def test_client_ratios_use_the_text_only_estimate(app: App) -> None:
    with app.db.transaction() as s:
        ana = Contact(email="ana@client.example")
        s.add(ana)
        s.flush()
        ana_id = ana.id
    a = _ticket(app, "support", requester=ana_id)
    b = _ticket(app, "support", requester=ana_id)
    with app.db.transaction() as s:
        ta, tb = s.get(Ticket, a), s.get(Ticket, b)
        assert ta is not None and tb is not None
        # suggested 60 with a factor 1.5 applied: the text said 40; 80 actual is a ratio of 2
        record_suggestion(
            s, ta, Suggestion(60, "Medium", "r.", 1.5), actor="rule:x", now=app.clock()
        )
        record_actual(s, ta, 80, actor="a@x", now=app.clock())
        set_estimate(s, tb, 30, actor="a@x", now=app.clock())  # no suggestion: the agent's
        record_actual(s, tb, 15, actor="a@x", now=app.clock())
    with app.db.sessions() as s:
        ratios = client_ratios(s, org_id=None, requester_id=ana_id)
    assert sorted(ratios) == [0.5, 2.0]


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,x",
        "ftp://x.example/",
        "/relative",
        "https://",
        "https://x.example/a b",
        'https://x.example/"><script>',
    ],
)
def test_task_links_other_than_http_are_refused(url: str) -> None:
    with pytest.raises(WorkflowError):
        check_url(url)


def test_http_links_are_kept() -> None:
    assert (
        check_url(" https://jira.example/browse/T-1?x=1&y=2 ")
        == "https://jira.example/browse/T-1?x=1&y=2"
    )
    assert check_url("http://intranet:8080/t/1") == "http://intranet:8080/t/1"


def test_rebuilds_are_rate_limited_on_a_busy_desk(app: App) -> None:
    index = StoreEstimateIndex(rebuild_share=1e-9)  # rebuilding may take a billionth of the time
    first = _ticket(app, "support", "Printer jam")
    with app.db.sessions() as s:
        built = index.index(s)
    index._last_build = (index._last_build[0], 1.0)  # as if that build had taken a second
    with app.db.transaction() as s:
        record_actual(s, s.get(Ticket, first), 40, actor="a@x", now=app.clock())  # type: ignore[arg-type]
    with app.db.sessions() as s:
        assert index.index(s) is built  # stale, within the budget


def test_an_estimate_added_in_the_transaction_is_found_before_any_flush(app: App) -> None:
    """``estimate_of`` does not flush (it runs for every new ticket), yet sees a pending row."""
    number = _ticket(app, "support")
    with app.db.transaction() as s:
        ticket = s.get(Ticket, number)
        assert ticket is not None and estimate_of(s, number) is None
        s.add(TicketEstimate(ticket_id=number, client_factor=1.0, created_at=app.clock()))
        ack = Message(ticket_id=number, direction="out", message_id="ack@x", subject="ack")
        s.add(ack)
        found = estimate_of(s, number)
        assert found is not None and found in s.new and ack in s.new  # nothing flushed
        assert set_estimate(s, ticket, 30, actor="a@x", now=app.clock()) is found
    with app.db.sessions() as s:
        assert s.get(TicketEstimate, number).agent_minutes == 30  # type: ignore[union-attr]
