"""A new message is stored and processed in one transaction; anything else takes two steps."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from postdesk.gateway.accept import ProcessingDeferred
from postdesk.gateway.app import App
from postdesk.gateway.settings import Settings
from postdesk.inbound.message import Envelope
from postdesk.store.enums import InboxState
from postdesk.store.models import AuditEntry, InboxItem, Message, OutboxItem, Ticket
from postdesk.store.suppression_models import AutoReplySent
from tests.gateway.test_failures_and_retry import BrokenRule
from tests.support.databases import PostgresServer
from tests.support.mail import client_mail
from tests.support.round_trips import round_trips

ENVELOPE = Envelope("ana@client.example", ("support@example.com",))


def _commits(app: App) -> list[int]:
    seen: list[int] = []

    @event.listens_for(app.db.engine, "commit")
    def _commit(*_args: object) -> None:
        seen.append(1)

    return seen


def _count(app: App, model: type) -> int:
    with app.db.sessions() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_a_new_message_is_stored_and_processed_with_one_commit(app: App) -> None:
    commits = _commits(app)
    raw = client_mail("Ana <ana@client.example>", "support@example.com", "Printer", "Jammed.")
    accepted = app.accept(raw, ENVELOPE)
    assert len(commits) == 1
    assert accepted.received.outcome == "new" and accepted.processed is not None
    assert accepted.processed.action == "new"
    with app.db.sessions() as s:
        row = s.get(InboxItem, accepted.received.inbox_id)
        assert row is not None
        assert (row.state, row.attempts, row.classification) == (InboxState.PROCESSED, 1, "normal")
        assert row.ticket_id == accepted.processed.ticket_id
        actions = s.scalars(
            select(AuditEntry.action).where(AuditEntry.ticket_id == row.ticket_id)
        ).all()
    assert "created" in actions
    assert _count(app, OutboxItem) == 1  # the acknowledgement

    again = app.accept(raw, ENVELOPE)  # a redelivery: recorded, nothing processed twice
    assert again.received.outcome == "redelivery" and again.processed is None
    assert (_count(app, InboxItem), _count(app, Ticket), _count(app, OutboxItem)) == (1, 1, 1)


def test_a_failure_leaves_the_message_stored_once_and_failed_once(app: App) -> None:
    app.pipeline.rules = [BrokenRule()]
    raw = client_mail("Ana <ana@client.example>", "support@example.com", "Broken", "...")
    with pytest.raises(ProcessingDeferred):
        app.accept(raw, ENVELOPE)
    with app.db.sessions() as s:
        row = s.scalars(select(InboxItem)).one()
    # The one-transaction attempt left nothing; the two-step path stored and failed it once.
    assert (row.state, row.attempts) == (InboxState.FAILED, 1)
    assert "template 'ack' is broken" in (row.error or "")
    assert (_count(app, Ticket), _count(app, AuditEntry)) == (0, 0)

    app.pipeline.rules = list(app.rules)  # fixed: the sender's retry is processed
    retried = app.accept(raw, ENVELOPE)
    assert retried.received.outcome == "redelivery"
    assert retried.processed is not None and retried.processed.state == "processed"
    assert (_count(app, InboxItem), _count(app, Ticket)) == (1, 1)


@pytest.mark.postgres
def _postgres_app(postgres_server: PostgresServer | None, tmp_path: Path) -> App:
    if postgres_server is None:
        pytest.skip("PostgreSQL not reachable (set POSTDESK_TEST_PG_URL)")
    postgres_server.truncate()
    settings = Settings(
        data_dir=tmp_path / "var",
        database_url=postgres_server.url,
        support_addresses=["support@example.com"],
        smtp_port=0,
        secret_key="test-secret-key-0123456789",
    )
    return App(settings)


def test_a_new_ticket_takes_two_round_trips_on_postgresql(
    postgres_server: PostgresServer | None, tmp_path: Path
) -> None:
    """The reads known in advance go with the next statement and the writes nobody waits
    for with the one after (store.held_writes): BEGIN, the sender's reads, the ids of the
    message and a new contact taken ahead, the rules' reads (the acknowledgement's
    suppression check and its outbox id among them) and the inbox row, whose INSERT returns
    the ticket's number too; the contact, ticket, participants, message, outbox row and
    the rest with COMMIT. The same for a sender never seen before. Counted on the wire."""
    app = _postgres_app(postgres_server, tmp_path)
    try:
        first = client_mail("Ana <ana@client.example>", "support@example.com", "Printer", "Jam.")
        app.accept(first, ENVELOPE)  # the contact, templates and caches exist from here on
        second = client_mail("Ana <ana@client.example>", "support@example.com", "VPN", "Down.")
        app.pipeline.support.ttl = 3600  # no reload of the support addresses in the count
        with round_trips(app.db.engine) as trips:
            accepted = app.accept(second, ENVELOPE)
        assert accepted.processed is not None and accepted.processed.action == "new"
        assert 0 < trips.count <= 2, trips.trace
        with app.db.sessions() as s:  # and it did everything the 24 trips did at first
            ticket = s.get(Ticket, accepted.processed.ticket_id)
            assert ticket is not None and ticket.requester is not None
            assert ticket.requester.email == "ana@client.example"
            outbox = s.scalars(select(OutboxItem).where(OutboxItem.ticket_id == ticket.id)).all()
            assert [o.kind for o in outbox] == ["ack"]
        stranger = client_mail("Bo <bo@other.example>", "support@example.com", "Mail", "Gone.")
        with round_trips(app.db.engine) as trips:
            accepted = app.accept(stranger, ENVELOPE)
        assert accepted.processed is not None and accepted.processed.action == "new"
        assert 0 < trips.count <= 2, trips.trace
        with app.db.sessions() as s:
            ticket = s.get(Ticket, accepted.processed.ticket_id)
            assert ticket is not None and ticket.requester is not None
            assert ticket.requester.email == "bo@other.example"
            outbox = s.scalars(select(OutboxItem).where(OutboxItem.ticket_id == ticket.id)).all()
            assert [o.kind for o in outbox] == ["ack"]
            # The rows written with ids taken ahead point at each other as they should.
            inbound = s.scalars(select(Message).where(Message.ticket_id == ticket.id)).all()
            assert [(m.direction, m.from_address) for m in inbound] == [
                ("in", "bo@other.example"),
                ("out", "support@example.com"),
            ]
            capped = s.scalars(select(AutoReplySent.outbox_id)).all()
            assert outbox[0].id in capped
    finally:
        app.close()


def test_mail_stored_before_takes_no_ticket_number_on_postgresql(
    postgres_server: PostgresServer | None, tmp_path: Path
) -> None:
    """A message that names no earlier one has its ticket's number taken by the inbox
    row's INSERT; not when it was stored before (a redelivery of the same bytes, or
    the same Message-ID from the same sender again): ticket numbers are shown to clients,
    and these would leave gaps."""
    app = _postgres_app(postgres_server, tmp_path)
    try:
        first = client_mail(
            "Ana <ana@client.example>",
            "support@example.com",
            "Printer",
            "Jam.",
            message_id="<printer-1@client.example>",
        )
        opened = app.accept(first, ENVELOPE).processed
        assert opened is not None and opened.action == "new" and opened.ticket_id is not None
        again = app.accept(first, ENVELOPE)
        assert again.received.outcome == "redelivery"
        edited = first.replace(b"Jam.", b"Jam, again.")
        assert app.accept(edited, ENVELOPE).received.outcome == "duplicate"
        other = client_mail("Bo <bo@other.example>", "support@example.com", "VPN", "Down.")
        next_one = app.accept(other, ENVELOPE).processed
        assert next_one is not None and next_one.action == "new"
        assert next_one.ticket_id == opened.ticket_id + 1
        assert _count(app, Ticket) == 2
    finally:
        app.close()
