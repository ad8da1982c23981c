"""Inside the processing transaction: one inbox row threaded, stored and run through the rules.

``Pipeline`` (gateway/pipeline.py) decides the transactions — a new message written and
processed in one, a batch in one, a retry on a committed row — and ``RowHandler.handle``
does what each of them does for one row: a loop or a bounce of our own mail recognised,
the sender identified, the thread decided, agents' mail applied, the ticket opened or
updated, the message stored, the rules run (their mail goes to the outbox) and the row
marked processed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, object_session

from postdesk.clock import Clock
from postdesk.contracts import BlobStore
from postdesk.gateway.agent_mail import handle_agent_mail, identify, warn_forged
from postdesk.gateway.agent_reply import ReplyContext
from postdesk.gateway.bounces import candidate_ids, find_outbox_row, record_bounce
from postdesk.gateway.settings import Settings
from postdesk.gateway.support_addresses import SupportAddresses
from postdesk.gateway.ticketing import open_or_attach, store_message, support_address_for
from postdesk.inbound.classify import Classification
from postdesk.inbound.message import InboundMessage
from postdesk.outbound.limits import inbound_rate_refusal
from postdesk.outbound.render import Renderer
from postdesk.outbound.suppression import ask_inbound_count_since, inbound_count_since
from postdesk.outbound.ticket_mail import MailIdentity
from postdesk.rules.engine import Ahead, Rule, RuleContext, RuleOutcome, ask_ahead, dispatch
from postdesk.rules.escalation import Level
from postdesk.store.audit_log import audit
from postdesk.store.direct import ask_id, update_persistent
from postdesk.store.enums import InboxState
from postdesk.store.models import InboxItem, Message, Ticket
from postdesk.store.prepared import forget_answers
from postdesk.store.tickets import SqlThreadLookup, ask_agent, ask_contact
from postdesk.threading.decide import ThreadDecision, ThreadInput, decide, surely_new


@dataclass(frozen=True, slots=True)
class ProcessResult:
    inbox_id: int
    state: str  # processed | failed | skipped (already done elsewhere)
    ticket_id: int | None = None
    action: str = ""  # attach | reopen | new | new_linked | dropped
    reason: str = ""
    attempts: int = 0  # for failed: how many times this row has failed so far


@dataclass(frozen=True, slots=True)
class Asked:
    """What ``RowHandler.ask_ahead`` asked before the inbox row was written."""

    now: datetime  # the moment the message is handled at (its hourly window was asked)
    rules: tuple[str, Ahead] | None = None  # the rules' reads asked: for this event and this
    opens_ticket: bool = False  # surely: the inbox row's INSERT may take the ticket's number


class RowHandler:
    """What the pipeline's transactions do for each row; holds what that needs. ``rules``
    and ``escalation`` may be replaced at any time (the app hands in live views)."""

    def __init__(
        self,
        settings: Settings,
        *,
        blobs: BlobStore,
        support: SupportAddresses,
        renderer: Renderer,
        ident: MailIdentity,
        rules: Sequence[Rule],
        escalation: Sequence[Level],
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.blobs = blobs
        self.support = support
        self.renderer = renderer
        self.ident = ident
        self.keys = settings.signing_keys()
        self.rules = rules
        self.escalation = escalation
        self.clock = clock
        self.outcomes: list[RuleOutcome] = []  # of the last message (for dry runs)

    def ask_ahead(
        self,
        session: Session,
        inbound: InboundMessage,
        verdict: Classification,
        sender: str,
        recipients: Sequence[str],
    ) -> Asked:
        """Before the inbox row of a new message is written: ask ahead what ``handle`` reads
        of every message, so that it goes with the row's INSERT (PostgreSQL). ``sender``,
        ``recipients``: the row's. Returns what to hand to ``handle``.

        A message that surely opens a ticket (it names no earlier one) also asks for what
        the rules on a new ticket read, and says so (``Asked.opens_ticket``): the inbox
        row's INSERT then takes the ticket's number too, only if it writes the row (a
        redelivery takes none), so the ticket's INSERT waits for nothing, and a new ticket
        takes one round trip less."""
        now = self.clock()
        if verdict.kind == "loop":
            return Asked(now)
        self._ask_ahead(session, inbound, sender, verdict, now)
        if verdict.kind == "bounce" or not verdict.may_open_ticket:
            return Asked(now)
        if not surely_new(thread_input(inbound, recipients, sender), self.keys):
            return Asked(now)
        # As far as is known before the sender is identified: not an agent (else asked again).
        ahead = Ahead(
            now, inbound.from_addr.email if inbound.from_addr else None, verdict.may_auto_respond
        )
        ask_ahead(self.rules, session, "ticket.created", ahead)
        return Asked(now, ("ticket.created", ahead), opens_ticket=True)

    def handle(
        self,
        session: Session,
        row: InboxItem,
        inbound: InboundMessage,
        verdict: Classification,
        asked: Asked | None = None,
    ) -> ProcessResult:
        """Thread, store and run the rules for ``row`` (locked or just written by us).
        ``asked``: what ``ask_ahead`` returned, when the caller asked before the row."""
        try:
            return self._handle(session, row, inbound, verdict, asked)
        finally:
            forget_answers(session)  # reads asked ahead for this message and not taken

    def _handle(
        self,
        session: Session,
        row: InboxItem,
        inbound: InboundMessage,
        verdict: Classification,
        asked: Asked | None,
    ) -> ProcessResult:
        now = asked.now if asked is not None else self.clock()
        if verdict.kind == "loop":
            return _finish(
                row, None, "dropped", "our own mail came back: " + "; ".join(verdict.reasons), now
            )
        if verdict.kind == "bounce":
            bounced = self._bounce(session, row, inbound, verdict, now)
            if bounced is not None:
                return bounced
        # On PostgreSQL, reads whose parameters are known now go with the next statement
        # (Prepared.ask): the sender's contact, agent and hourly count, then what the rules
        # read.
        if asked is None:
            self._ask_ahead(session, inbound, row.sender, verdict, now)
        # Reads of what this transaction has not written yet (agents, earlier messages): no
        # need to flush the inbox row's change before them.
        with session.no_autoflush:
            sender = identify(session, inbound, row, self.settings)
            decision = decide(
                thread_input(inbound, row.envelope_to, row.sender),
                SqlThreadLookup(session),
                self.keys,
                now,
                timedelta(days=self.settings.reopen_window_days),
                staff=sender.verified,
            )
        if decision.is_new and not verdict.may_open_ticket:
            return _finish(
                row,
                None,
                "dropped",
                f"{verdict.kind} does not open tickets: {decision.reason}",
                now,
            )
        event = "ticket.created" if decision.is_new else "message.received"
        ahead = Ahead(
            now,
            inbound.from_addr.email if inbound.from_addr else None,
            verdict.may_auto_respond and sender.agent is None,
        )
        if asked is None or asked.rules != (event, ahead):
            ask_ahead(self.rules, session, event, ahead)
        if sender.verified and not decision.is_new:
            reason = handle_agent_mail(
                self._agent_ctx(session, now), sender, inbound, row, decision, verdict.kind
            )
            return _finish(row, decision.ticket_id, "attach", reason, now)
        addresses = self.support.known()  # refreshed before this transaction began
        support = support_address_for(inbound, row, addresses, self.keys)
        ticket, events = open_or_attach(
            session,
            decision,
            inbound,
            row,
            support_address=support,
            address=self.support.entry(support),
            now=now,
        )
        # Mail from an agent's address (a ticket an agent opens, or a forgery) gets no ack.
        may_auto_respond = (
            verdict.may_auto_respond
            and sender.agent is None
            and self._within_rate(session, ticket, inbound, row, now)
        )
        message = store_message(
            session,
            ticket,
            inbound,
            row,
            kind=verdict.kind,
            decision=decision,
            support=addresses,
            now=now,
            join_thread=not sender.forged,
        )
        ctx = RuleContext(
            session=session,
            event=events[0],
            ticket=ticket,
            now=now,
            renderer=self.renderer,
            ident=self.ident,
            message=message,
            inbound=inbound,
            may_auto_respond=may_auto_respond,
            staff_sender=sender.verified,
        )
        self.outcomes = dispatch(self.rules, ctx, events)
        if sender.forged:
            warn_forged(self._agent_ctx(session, now), sender, ticket, message)
        return _finish(row, ticket.id, decision.action, decision.reason, now)

    def _agent_ctx(self, session: Session, now: datetime) -> ReplyContext:
        return ReplyContext(
            session,
            self.ident,
            self.renderer,
            self.blobs,
            self.support.known(),
            now,
            rules=self.rules,
            escalation=self.escalation,
        )

    def _bounce(
        self,
        session: Session,
        row: InboxItem,
        inbound: InboundMessage,
        verdict: Classification,
        now: datetime,
    ) -> ProcessResult | None:
        """Attach a bounce of our own mail to its ticket; None when it is about no mail of ours."""
        item = find_outbox_row(session, candidate_ids(verdict.bounce, inbound))
        if item is None or item.ticket_id is None:
            return None
        ticket = session.get(Ticket, item.ticket_id, with_for_update={"of": Ticket})
        assert ticket is not None
        decided = record_bounce(
            session, item, verdict, now, suppress_days=self.settings.bounce_suppress_days
        )
        reason = f"bounce of our {item.kind} {item.message_id}"
        store_message(
            session,
            ticket,
            inbound,
            row,
            kind="bounce",
            decision=ThreadDecision("attach", ticket.id, "in_reply_to", reason),
            support=self.support.known(),
            now=now,
            visibility="internal",
            join_thread=False,
        )
        ticket.updated_at = now
        return _finish(row, ticket.id, "attach", f"{reason}: {decided.summary}", now)

    @staticmethod
    def _ask_ahead(
        session: Session,
        inbound: InboundMessage,
        row_sender: str,
        verdict: Classification,
        now: datetime,
    ) -> None:
        if inbound.from_addr is not None:
            ask_contact(session, inbound.from_addr.email)
            ask_agent(session, inbound.from_addr.email)  # as identify looks
        sender = inbound.from_addr.email if inbound.from_addr else row_sender
        if sender and verdict.may_auto_respond:  # as _within_rate will count
            ask_inbound_count_since(session, sender, now - timedelta(hours=1))
        ask_id(session, Message)  # for the message stored: its INSERT need not wait

    def _within_rate(
        self,
        session: Session,
        ticket: Ticket,
        inbound: InboundMessage,
        row: InboxItem,
        now: datetime,
    ) -> bool:
        """False (with an audit warning) when the sender writes more than the hourly rate."""
        sender = inbound.from_addr.email if inbound.from_addr else row.sender
        if not sender:
            return True
        # Runs before this message is stored, so the count is of the earlier ones (and the
        # ticket's pending rows need no flush for it).
        with session.no_autoflush:
            recent = inbound_count_since(session, sender, now - timedelta(hours=1))
        refusal = inbound_rate_refusal(recent, self.settings.inbound_rate_per_hour)
        if refusal is None:
            return True
        audit(session, ticket.id, "system", "rate_limited", detail=f"{sender}: {refusal}", at=now)
        return False


def thread_input(msg: InboundMessage, envelope_to: Sequence[str], sender: str) -> ThreadInput:
    """What threading looks at; ``envelope_to``, ``sender``: the inbox row's."""
    recipients = [*envelope_to, *(a.email for a in (*msg.to, *msg.cc))]
    return ThreadInput(
        sender=msg.from_addr.email if msg.from_addr else sender,
        recipients=tuple(dict.fromkeys(r.lower() for r in recipients)),
        in_reply_to=tuple(m.lower() for m in msg.in_reply_to),
        references=tuple(m.lower() for m in msg.references),
        subject=msg.subject,
    )


def _finish(
    row: InboxItem, ticket_id: int | None, action: str, reason: str, now: datetime
) -> ProcessResult:
    """Mark ``row`` processed (with the ticket it went to, or why it was dropped)."""
    session = object_session(row)
    assert session is not None
    update_persistent(
        session,
        row,
        state=InboxState.PROCESSED,
        ticket_id=ticket_id,
        error=None if action != "dropped" else reason[:2000],
        processed_at=now,
        attempts=row.attempts,  # counted by the caller (a retry), written with the rest
        classification=row.classification,
    )
    return ProcessResult(row.id, "processed", ticket_id, action, reason)
