"""escalate(): up the hierarchy, one reused internal ticket, and never a mail to a client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from postdesk.outbound.render import Renderer
from postdesk.outbound.ticket_mail import ClientMailRefused, MailIdentity, send_ticket_mail
from postdesk.rules.escalation import escalate
from postdesk.rules.schema import Level
from postdesk.store.db import Database
from postdesk.store.models import Agent, AuditEntry, Message, OutboxItem, Ticket
from postdesk.store.workflow import WorkflowError

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
LEVELS = (Level(name="manager", managers=True), Level(name="it", team="it-support"))


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    with database.transaction() as s:
        s.add_all(
            [
                Agent(email="max@example.com", role="manager"),
                Ticket(subject="Tills down", support_address="support@example.com", priority="P2"),
            ]
        )
    yield database
    database.dispose()


def test_escalation_climbs_the_hierarchy_in_one_internal_ticket(db: Database) -> None:
    with db.transaction() as s:
        ticket = s.scalars(select(Ticket)).one()
        first = escalate(s, ticket, "max@example.com", NOW, "Delivery delay", hierarchy=LEVELS)
        second = escalate(s, ticket, "max@example.com", NOW, hierarchy=LEVELS)
        third = escalate(s, ticket, "max@example.com", NOW, hierarchy=LEVELS)
        assert [e.level.name for e in (first, second, third)] == ["manager", "it", "it"]
        assert (first.change.old, first.change.new, second.change.new) == ("0", "1", "2")
        assert ticket.escalation_level == 2  # stays at the top
        esc = first.escalation_ticket
        assert second.escalation_ticket.id == esc.id == third.escalation_ticket.id
        assert (esc.type, esc.linked_ticket_id, esc.requester_id) == ("escalation", ticket.id, None)
        assert esc.fields == {"escalation_type": "delivery delay"}
        assert esc.priority == "P2"
        notes = list(s.scalars(select(Message).where(Message.ticket_id == esc.id)))
        assert len(notes) == 3 and all(m.visibility == "internal" for m in notes)
        assert (
            s.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.ticket_id == ticket.id, AuditEntry.action == "escalation_level")
            )
            == 3
        )


def test_refusals(db: Database) -> None:
    with db.transaction() as s:
        ticket = s.scalars(select(Ticket)).one()
        with pytest.raises(WorkflowError, match="unknown escalation type"):
            escalate(s, ticket, "max@example.com", NOW, "bad mood", hierarchy=LEVELS)
        esc = escalate(s, ticket, "max@example.com", NOW, hierarchy=LEVELS).escalation_ticket
        with pytest.raises(WorkflowError, match="not its escalation"):
            escalate(s, esc, "max@example.com", NOW, hierarchy=LEVELS)
        ticket.status = "closed"
        with pytest.raises(WorkflowError, match="closed"):
            escalate(s, ticket, "max@example.com", NOW, hierarchy=LEVELS)


def test_no_mail_about_an_escalation_ticket_reaches_a_client(db: Database) -> None:
    ident = MailIdentity("Support", b"k" * 16, "http://portal")
    with db.transaction() as s:
        ticket = s.scalars(select(Ticket)).one()
        esc = escalate(s, ticket, "max@example.com", NOW, hierarchy=LEVELS).escalation_ticket
        kwargs = dict(
            ident=ident,
            renderer=Renderer(),
            ticket=esc,
            template="ack",
            kind="ack",
            context={"requester_name": "", "articles": []},
            now=NOW,
        )
        with pytest.raises(ClientMailRefused, match=r"ana@client\.example"):
            send_ticket_mail(s, to=["max@example.com"], cc=["ana@client.example"], **kwargs)  # type: ignore[arg-type]
        assert s.scalar(select(func.count()).select_from(OutboxItem)) == 0
        # staff may be written to about it
        send_ticket_mail(s, to=["max@example.com"], **kwargs)  # type: ignore[arg-type]
        assert s.scalar(select(func.count()).select_from(OutboxItem)) == 1
