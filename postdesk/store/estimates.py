"""A ticket's time estimate: the suggestion, the agents' estimate and the actual time spent.

Every change writes an audit entry (field ``estimate`` or ``time_spent``), so the ticket's
history shows who estimated what. Minutes outside 1..``MAX_MINUTES`` raise ``WorkflowError``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import Session, UOWTransaction

from postdesk.rules.estimate import Suggestion, parse_minutes
from postdesk.store.audit_log import audit
from postdesk.store.direct import flush_pending
from postdesk.store.models import Ticket
from postdesk.store.prepared import Prepared
from postdesk.store.session_cache import cache
from postdesk.store.task_models import TicketEstimate
from postdesk.store.tickets import is_opened_here


def estimate_of(session: Session, ticket_id: int) -> TicketEstimate | None:
    """The ticket's estimate row, also one added in this transaction and not yet flushed.
    Asked for every new ticket: it does not flush the transaction's other rows first."""
    with session.no_autoflush:
        row = session.get(TicketEstimate, ticket_id)
    if row is None:
        pending = (o for o in session.new if isinstance(o, TicketEstimate))
        row = next((o for o in pending if o.ticket_id == ticket_id), None)
    return row


_HAS_ESTIMATE = Prepared(
    select(TicketEstimate.ticket_id).where(TicketEstimate.ticket_id == bindparam("id"))
)


def has_estimate(session: Session, ticket_id: int) -> bool:
    """Whether the ticket has an estimate row (one added in this transaction included).
    Asked for every new support ticket: a plain lookup, no flush unless an estimate is
    pending; none at all for a ticket created in this transaction."""
    if is_opened_here(session, ticket_id) and ticket_id not in cache(session, "estimated"):
        # Its estimate, if any, is still pending in this session (see _estimates_flushed).
        pending = (o for o in session.new if isinstance(o, TicketEstimate))
        return any(o.ticket_id == ticket_id for o in pending)
    flush_pending(session, TicketEstimate)
    return _HAS_ESTIMATE.scalar(session, {"id": ticket_id}) is not None


def _row(session: Session, ticket: Ticket, now: datetime) -> TicketEstimate:
    row = estimate_of(session, ticket.id)
    if row is None:
        row = TicketEstimate(
            ticket_id=ticket.id,
            org_id=ticket.org_id,
            requester_id=ticket.requester_id,
            client_factor=1.0,
            created_at=now,
        )
        session.add(row)
    return row


def record_suggestion(
    session: Session, ticket: Ticket, suggestion: Suggestion, *, actor: str, now: datetime
) -> TicketEstimate:
    row = _row(session, ticket, now)
    row.suggested_minutes = suggestion.minutes
    row.confidence = suggestion.confidence
    row.reason = suggestion.reason
    row.client_factor = suggestion.client_factor
    audit(
        session,
        ticket.id,
        actor,
        "estimate_suggested",
        new=str(suggestion.minutes),
        detail=f"{suggestion.confidence}: {suggestion.reason}"[:2000],
        at=now,
    )
    session.flush()
    return row


def set_estimate(
    session: Session, ticket: Ticket, minutes: int | str, *, actor: str, now: datetime
) -> TicketEstimate:
    """The agents' estimate: the suggestion accepted, or their own number."""
    value = parse_minutes(minutes)
    row = _row(session, ticket, now)
    old = row.agent_minutes
    row.agent_minutes, row.estimated_by = value, actor
    accepted = value == row.suggested_minutes
    audit(
        session,
        ticket.id,
        actor,
        "estimate",
        field="estimate",
        old=None if old is None else str(old),
        new=str(value),
        detail="accepted the suggestion" if accepted else "set by an agent",
        at=now,
    )
    session.flush()
    return row


def record_actual(
    session: Session, ticket: Ticket, minutes: int | str, *, actor: str, now: datetime
) -> TicketEstimate:
    """The time the work took; resolved support tickets with it calibrate later suggestions."""
    value = parse_minutes(minutes)
    row = _row(session, ticket, now)
    old = row.actual_minutes
    row.actual_minutes, row.actual_at = value, now
    # The client may have been filed under an organisation since the ticket was opened.
    row.org_id, row.requester_id = ticket.org_id, ticket.requester_id
    audit(
        session,
        ticket.id,
        actor,
        "time_spent",
        field="time_spent",
        old=None if old is None else str(old),
        new=str(value),
        at=now,
    )
    session.flush()
    return row


@event.listens_for(Session, "after_flush")
def _estimates_flushed(session: Session, _context: UOWTransaction) -> None:
    """Note the tickets whose estimates this transaction has written: ``has_estimate`` asks
    the store about them (a written row may no longer be held by the session)."""
    written = [o.ticket_id for o in session.new if isinstance(o, TicketEstimate)]
    if written:
        cache(session, "estimated").update(dict.fromkeys(written, True))
