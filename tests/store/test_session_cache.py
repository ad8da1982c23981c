"""Contacts and participants are looked up once per transaction, never handed out stale."""

from __future__ import annotations

from sqlalchemy import event, func, select

from postdesk.store.db import Database
from postdesk.store.models import Contact, Participant, Ticket
from postdesk.store.tickets import add_participants, contact_for


def _count_selects(db: Database) -> list[str]:
    seen: list[str] = []

    @event.listens_for(db.engine, "before_cursor_execute")
    def _statement(_c, _cur, statement: str, *_rest: object) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    return seen


def test_contact_asked_once_per_transaction(db: Database) -> None:
    selects = _count_selects(db)
    with db.transaction() as s:
        first = contact_for(s, "Ann@Example.org", "Ann")
        before = len(selects)
        again = contact_for(s, "ann@example.org", "")
        assert again is first and len(selects) == before
    with db.transaction() as s:  # a new transaction asks the store again
        before = len(selects)
        assert contact_for(s, "ann@example.org").id == first.id
        assert len(selects) > before


def test_contact_created_in_an_undone_savepoint_is_not_reused(db: Database) -> None:
    with db.transaction() as s:
        nested = s.begin_nested()
        ghost = contact_for(s, "ghost@example.org", "Ghost")
        nested.rollback()
        contact = contact_for(s, "ghost@example.org", "Ghost")
        assert contact is not ghost
    with db.sessions() as s:
        rows = s.scalars(select(Contact).where(Contact.email == "ghost@example.org")).all()
    assert [c.id for c in rows] == [contact.id]


def test_participants_added_once_across_calls(db: Database) -> None:
    with db.transaction() as s:
        ticket = Ticket(subject="t", support_address="support@example.com", origin="email")
        s.add(ticket)
        s.flush()
        add_participants(s, ticket.id, ["a@example.org"], role="requester")
        add_participants(s, ticket.id, ["A@example.org", "b@example.org"])
        add_participants(s, ticket.id, ["b@example.org"])
        ticket_id = ticket.id
    with db.sessions() as s:
        emails = s.scalars(
            select(Participant.email)
            .where(Participant.ticket_id == ticket_id)
            .order_by(Participant.id)
        ).all()
        total = s.scalar(select(func.count()).select_from(Participant))
    assert emails == ["a@example.org", "b@example.org"] and total == 2


def test_participants_undone_by_a_savepoint_are_added_again(db: Database) -> None:
    with db.transaction() as s:
        ticket = Ticket(subject="t", support_address="support@example.com", origin="email")
        s.add(ticket)
        s.flush()
        nested = s.begin_nested()
        add_participants(s, ticket.id, ["c@example.org"])
        nested.rollback()
        add_participants(s, ticket.id, ["c@example.org"])
        ticket_id = ticket.id
    with db.sessions() as s:
        emails = s.scalars(select(Participant.email).where(Participant.ticket_id == ticket_id))
        assert list(emails) == ["c@example.org"]


def test_managers_read_once_per_transaction_and_again_after_a_change(db: Database) -> None:
    from postdesk.rules.recipients import managers
    from postdesk.store.models import Agent

    selects = _count_selects(db)
    with db.transaction() as s:
        s.add(Agent(email="boss@example.com", name="Boss", role="manager"))
    with db.transaction() as s:
        assert [a.email for a in managers(s)] == ["boss@example.com"]
        before = len(selects)
        assert [a.email for a in managers(s)] == ["boss@example.com"]
        assert len(selects) == before  # remembered for the transaction
        s.add(Agent(email="chief@example.com", name="Chief", role="manager"))
        # The pending agent is flushed first, and the flush forgets the remembered list.
        assert [a.email for a in managers(s)] == ["boss@example.com", "chief@example.com"]
        s.rollback()
    with db.transaction() as s:  # the rolled-back agent is not remembered anywhere
        assert [a.email for a in managers(s)] == ["boss@example.com"]


def test_estimate_of_a_ticket_opened_in_the_transaction_needs_no_lookup(db: Database) -> None:
    from postdesk.store.estimates import has_estimate
    from postdesk.store.task_models import TicketEstimate
    from postdesk.store.tickets import opened_here

    selects = _count_selects(db)
    with db.transaction() as s:
        ticket = Ticket(subject="t", support_address="support@example.com", origin="email")
        s.add(ticket)
        s.flush()
        opened_here(s, ticket.id)
        before = len(selects)
        assert has_estimate(s, ticket.id) is False
        s.add(TicketEstimate(ticket_id=ticket.id, suggested_minutes=30))
        assert has_estimate(s, ticket.id) is True  # pending
        assert len(selects) == before
        s.flush()  # nothing holds the estimate object now: the session may let it go
        assert has_estimate(s, ticket.id) is True  # written: asked of the store
    with db.transaction() as s:  # a later transaction asks the store
        assert has_estimate(s, ticket.id) is True
        assert len(selects) > before
