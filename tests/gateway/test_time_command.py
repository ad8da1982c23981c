"""``#time 30`` in an agent's mail records the time spent, with an audit entry; a bad value
refuses the whole mail and tells the agent why."""

from __future__ import annotations

from sqlalchemy import select

from postdesk.inbound.agent_commands import parse_commands
from postdesk.store.estimates import estimate_of
from postdesk.store.models import AuditEntry, Ticket
from tests.gateway.agent_support import ALICE, Desk, agent_reply, desk
from tests.gateway.test_agent_mail import notification_for, open_ticket

__all__ = ["desk"]  # the fixture


def test_time_command_parses_minutes() -> None:
    parsed = parse_commands("#time 30m\n#status resolved\nDone.")
    assert [(c.name, c.arg) for c in parsed.commands] == [("time", "30m"), ("status", "resolved")]
    assert parsed.errors == ()
    bad = parse_commands("#time soon\nDone.")
    assert [e.reason for e in bad.errors] == ["minutes are a whole number, not 'soon'"]
    assert parse_commands("#time\n").errors[0].reason.startswith("#time needs a value")


async def test_time_and_resolve_by_mail(desk: Desk) -> None:
    ticket_id, _, seen = await open_ticket(desk)
    note = (await notification_for(desk, ticket_id, seen)).message
    raw, target = agent_reply(note, "#time 45\n#status resolved")
    await desk.send(raw, [target], ALICE)
    with desk.app.db.sessions() as s:
        ticket = s.get(Ticket, ticket_id)
        est = estimate_of(s, ticket_id)
        assert ticket is not None and ticket.status == "resolved"
        assert est is not None and est.actual_minutes == 45
        entry = s.scalar(select(AuditEntry).where(AuditEntry.field == "time_spent"))
        assert entry is not None and (entry.actor, entry.new_value) == (ALICE, "45")


async def test_a_bad_time_changes_nothing(desk: Desk) -> None:
    ticket_id, _, seen = await open_ticket(desk)
    note = (await notification_for(desk, ticket_id, seen)).message
    raw, target = agent_reply(note, "#time 0\n#status resolved")
    await desk.send(raw, [target], ALICE)
    error = (await desk.wait_total(seen + 2))[seen + 1]
    assert error.rcpt_tos == [ALICE]
    assert "minutes are between 1 and 10000" in error.message.get_body(("plain",)).get_content()
    with desk.app.db.sessions() as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None and ticket.status != "resolved"
        est = estimate_of(s, ticket_id)
        assert est is None or est.actual_minutes is None
