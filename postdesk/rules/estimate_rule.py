"""The rule that suggests a time estimate when a support ticket is created.

Runs after the configured rules on ``ticket.created`` (a rule may have made the ticket a
Question first: questions, escalations and conversations get no estimate). The suggestion is
computed in the processing transaction from the cached history index; it is stored with the
ticket and written to its audit trail.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from postdesk.rules.engine import Ahead, RuleContext
from postdesk.rules.estimate import Suggestion
from postdesk.rules.estimate_index import Stamp, StoreEstimateIndex, client_ratios, doc_terms
from postdesk.store.audit_log import savepoint
from postdesk.store.enums import TicketType
from postdesk.store.estimates import has_estimate, record_suggestion
from postdesk.store.models import Message, Ticket

# One per process: the index is rebuilt only when the resolved history changes.
SHARED_INDEX = StoreEstimateIndex()

log = logging.getLogger(__name__)


def suggestion_for(
    session: Session,
    ticket: Ticket,
    message: Message | None,
    index: StoreEstimateIndex,
    stamp: Stamp | None = None,
) -> Suggestion | None:
    text = (message.text_new or message.text_full) if message is not None else ""
    subject = (message.subject if message is not None else "") or ticket.subject
    history = index.index(session, stamp)
    if not history:
        return None  # nothing resolved yet: no suggestion, and no client history to read
    ratios = client_ratios(
        session, org_id=ticket.org_id, requester_id=ticket.requester_id, before=ticket.id
    )
    return history.suggest(doc_terms(subject, text), ratios, exclude=ticket.id)


@dataclass
class SuggestEstimate:
    index: StoreEstimateIndex = field(default_factory=lambda: SHARED_INDEX)
    name: str = "suggest_estimate"
    description: str = "Suggest minutes of work for a new support ticket from similar ones."
    events: tuple[str, ...] = ("ticket.created",)

    def check(self, ctx: RuleContext) -> str | None:
        if ctx.ticket.type != TicketType.SUPPORT:
            return None
        if has_estimate(ctx.session, ctx.ticket.id):
            return None
        return "new support ticket"

    def ask_ahead(self, session: Session, ahead: Ahead) -> None:
        self.index.ask_stamp(session)

    def apply(self, ctx: RuleContext) -> None:
        # A suggestion is a help, not part of taking the mail in: if it fails, the message is
        # still processed (the savepoint undoes what the estimate wrote) and the error logged.
        # With no time recorded yet there is nothing to suggest from: one read, no savepoint.
        try:
            stamp = self.index.stamp(ctx.session)
            if stamp[1] is None:
                return
            with savepoint(ctx.session):
                suggestion = suggestion_for(ctx.session, ctx.ticket, ctx.message, self.index, stamp)
                if suggestion is not None:
                    record_suggestion(
                        ctx.session, ctx.ticket, suggestion, actor=f"rule:{self.name}", now=ctx.now
                    )
        except Exception:
            log.exception("no time estimate for ticket %s", ctx.ticket.id)
