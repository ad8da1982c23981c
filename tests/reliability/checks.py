"""The checks shared by the crash tests: every message stored once, every ack sent."""

from __future__ import annotations

import os
from collections import Counter

from sqlalchemy import select

from postdesk.store.db import Database
from postdesk.store.enums import InboxState, OutboxState
from postdesk.store.models import InboxItem, Message, OutboxItem, Ticket
from tests.support.relay import CapturingRelay


def full_size() -> bool:
    """The issue's full size (POSTDESK_RELIABILITY_FULL=1). Not POSTDESK_TEST_FULL, which CI
    sets for the two-gateway test: the full crash runs take several minutes each."""
    return os.environ.get("POSTDESK_RELIABILITY_FULL") == "1"


def stored_summary(
    db: Database, relay: CapturingRelay, expected: set[str], *, max_extra: int
) -> str:
    """Assert each expected Message-ID is stored once, on its own new ticket, with its ack
    sent; at most ``max_extra`` acks relayed more than once. Returns a one-line summary."""
    with db.sessions() as s:
        inbox = list(s.execute(select(InboxItem.message_id, InboxItem.state)))
        stored = list(
            s.execute(
                select(Message.message_id, Message.ticket_id).where(Message.direction == "in")
            )
        )
        tickets = set(s.scalars(select(Ticket.id)))
        acks = list(
            s.execute(
                select(OutboxItem.ticket_id, OutboxItem.message_id, OutboxItem.state).where(
                    OutboxItem.kind == "ack"
                )
            )
        )
    # Exactly N inbox rows and N stored messages, each Message-ID once.
    assert len(inbox) == len(expected), Counter(m for m, _ in inbox).most_common(3)
    assert {m for m, _ in inbox} == expected
    assert {state for _, state in inbox} == {InboxState.PROCESSED}
    assert len(stored) == len(expected) and {m for m, _ in stored} == expected
    # One new ticket per message, one ack per ticket, every ack recorded as sent.
    assert len(tickets) == len(expected)
    assert Counter(t for _, t in stored) == Counter(tickets)
    assert Counter(t for t, _, _ in acks) == Counter(tickets)
    assert {state for _, _, state in acks} == {OutboxState.SENT}
    # At the relay: every ack at least once; resends only within the at-least-once window.
    relayed = Counter(str(c.message["Message-ID"]).strip("<>") for c in relay.messages)
    ack_ids = {m for _, m, _ in acks}
    assert ack_ids <= set(relayed), f"{len(ack_ids - set(relayed))} acks never relayed"
    assert set(relayed) <= ack_ids, "the relay got mail that is no ack of ours"
    extra = sum(n - 1 for n in relayed.values())
    assert extra <= max_extra, relayed.most_common(5)
    return f"{len(relay.messages)} mails relayed, {extra} resent"
