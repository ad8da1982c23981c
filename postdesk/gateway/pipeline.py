"""The ingest pipeline: an inbox row -> parsed, classified, threaded, stored, ruled.

Parsing runs outside any transaction (it is the slow part and SQLite allows one writer);
threading, storing and the rules' outbox rows are written in one transaction that also
marks the inbox row processed. ``process`` works on a committed row: any failure leaves it
``failed`` with its error, to be retried — the raw message is never dropped.
``receive_and_process`` writes a new row in that same transaction (one commit), and
``receive_and_process_many`` several in one (group commit); if it fails, nothing of it is
kept and the caller stores each message on its own first.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session
from structlog.contextvars import bind_contextvars, bound_contextvars

from postdesk.clock import Clock, utcnow
from postdesk.contracts import BlobStore
from postdesk.gateway.agent_mail import handle_agent_mail, identify, warn_forged
from postdesk.gateway.agent_reply import ReplyContext
from postdesk.gateway.bounces import candidate_ids, find_outbox_row, record_bounce
from postdesk.gateway.receive import (
    QuickHeaders,
    ReceiveResult,
    keep,
    quick_headers,
    raw_message,
    record,
)
from postdesk.gateway.settings import Settings
from postdesk.gateway.support_addresses import SupportAddresses
from postdesk.gateway.ticketing import (
    open_or_attach,
    store_message,
    support_address_for,
)
from postdesk.inbound.classify import Classification, classify
from postdesk.inbound.message import Envelope, InboundMessage
from postdesk.inbound.parse import parse_message
from postdesk.outbound.limits import AutoReplyLimits, inbound_rate_refusal
from postdesk.outbound.render import Renderer
from postdesk.outbound.suppression import ask_inbound_count_since, inbound_count_since
from postdesk.outbound.ticket_mail import MailIdentity
from postdesk.rules.engine import Rule, RuleContext, RuleOutcome, ask_ahead, dispatch
from postdesk.rules.escalation import DEFAULT_HIERARCHY, Level
from postdesk.store.audit_log import audit
from postdesk.store.db import Database
from postdesk.store.direct import update_persistent
from postdesk.store.enums import InboxState
from postdesk.store.models import InboxItem, Ticket
from postdesk.store.prepared import forget_answers
from postdesk.store.tickets import SqlThreadLookup, ask_contact
from postdesk.threading.decide import ThreadDecision, ThreadInput, decide

log = logging.getLogger(__name__)
RETRYABLE = (InboxState.RECEIVED, InboxState.FAILED)


@dataclass(frozen=True, slots=True)
class ProcessResult:
    inbox_id: int
    state: str  # processed | failed | skipped (already done elsewhere)
    ticket_id: int | None = None
    action: str = ""  # attach | reopen | new | new_linked | dropped
    reason: str = ""
    attempts: int = 0  # for failed: how many times this row has failed so far


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A received message before its transaction: hashed (a large one in the blob store
    already), parsed and classified."""

    envelope: Envelope
    content_hash: str
    inline: bytes | None  # the bytes for the inbox row; None when in the blob store
    quick: QuickHeaders
    size: int
    inbound: InboundMessage
    verdict: Classification

    @property
    def message_id(self) -> str:
        return self.inbound.message_id


@dataclass(frozen=True, slots=True)
class Stored:
    """The bytes and envelope sender of a row ``receive`` has just committed."""

    raw: bytes
    envelope_from: str


class Pipeline:
    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        settings: Settings,
        *,
        renderer: Renderer,
        rules: Sequence[Rule],
        clock: Clock = utcnow,
        escalation: Sequence[Level] = DEFAULT_HIERARCHY,
        support: SupportAddresses | None = None,
    ) -> None:
        self.db = db
        # Settings' addresses and the admin's (a few seconds' cache; see support_addresses).
        self.support = support or SupportAddresses(settings.support_addresses, db)
        self.escalation: Sequence[Level] = tuple(escalation)
        self.blobs = blobs
        self.settings = settings
        self.renderer = renderer
        self.rules: Sequence[Rule] = list(rules)  # App swaps in the live rules
        self.clock = clock
        self.keys = settings.signing_keys()
        self.outcomes: list[RuleOutcome] = []  # of the last message (for dry runs)
        limits = AutoReplyLimits(
            timedelta(minutes=settings.auto_reply_min_interval_minutes),
            settings.auto_reply_max_per_day,
        )
        self.ident = MailIdentity(
            settings.support_name,
            self.keys[0],
            settings.portal_url,
            limits,
            display_names=self.support.display_name,
        )

    def process(self, inbox_id: int, stored: Stored | None = None) -> ProcessResult:
        """Process one inbox row; ``stored``: its bytes, when the caller just received them."""
        # Every log line while this message is worked on names it (see gateway/logs.py).
        with bound_contextvars(inbox=inbox_id, message_id=None, ticket=None):
            result = self._process(inbox_id, stored)
            self._log(result)
            return result

    @staticmethod
    def _log(result: ProcessResult) -> None:
        if result.state != "skipped":
            with bound_contextvars(inbox=result.inbox_id, ticket=result.ticket_id):
                log.info(
                    "inbox %s %s: %s %s",
                    result.inbox_id,
                    result.state,
                    result.action,
                    result.reason,
                )

    def receive_and_process(
        self, raw: bytes, envelope: Envelope
    ) -> tuple[ReceiveResult, ProcessResult | None]:
        """Store a new message and process it in one transaction: one commit instead of two.

        A redelivery or duplicate is only recorded (None: the caller handles its original).
        If parsing or processing fails, nothing of this attempt is kept (the blob alone is
        harmless) and the exception propagates: the caller then stores the message on its
        own first, so that the failure is recorded against a durable row.
        """
        return self.receive_and_process_many([(raw, envelope)])[0]

    def receive_and_process_many(
        self, messages: Sequence[tuple[bytes, Envelope]]
    ) -> list[tuple[ReceiveResult, ProcessResult | None]]:
        """``receive_and_process`` for several messages, all in one transaction (group commit:
        one commit, and on SQLite one writer's turn, for all of them). If any of them fails,
        none is kept and the exception propagates."""
        self.support.current()  # refresh the cache now, not inside the write transaction
        prepared = [self._prepare(raw, envelope) for raw, envelope in messages]
        outcomes: list[tuple[ReceiveResult, ProcessResult | None]] = []
        with self.db.transaction() as session:
            for item in prepared:
                with bound_contextvars(inbox=None, message_id=item.message_id, ticket=None):
                    outcomes.append(self._record_and_store(session, item))
        for item, (_, result) in zip(prepared, outcomes, strict=True):
            if result is not None:
                with bound_contextvars(message_id=item.message_id):
                    self._log(result)
        return outcomes

    def _prepare(self, raw: bytes, envelope: Envelope) -> _Prepared:
        """Everything before the transaction: the bytes placed, the message understood."""
        with bound_contextvars(inbox=None, message_id=None, ticket=None):
            content_hash, inline = keep(self.blobs, raw)
            quick = quick_headers(raw, content_hash)
            inbound, verdict = self._understand(raw, envelope.mail_from[:320])
        return _Prepared(envelope, content_hash, inline, quick, len(raw), inbound, verdict)

    def _record_and_store(
        self, session: Session, item: _Prepared
    ) -> tuple[ReceiveResult, ProcessResult | None]:
        received, row = record(
            session,
            item.content_hash,
            item.quick,
            item.size,
            item.envelope,
            processing_as=item.verdict.kind,
            raw=item.inline,
        )
        if row is None:
            return received, None
        bind_contextvars(inbox=row.id)
        return received, self._store(session, row, item.inbound, item.verdict)

    def _understand(self, raw: bytes, envelope_from: str) -> tuple[InboundMessage, Classification]:
        """Parse and classify, outside any transaction (the slow part; SQLite has one writer)."""
        inbound = parse_message(raw, self.blobs)
        bind_contextvars(message_id=inbound.message_id)
        return inbound, classify(inbound, raw, envelope_from=envelope_from, keys=self.keys)

    def _process(self, inbox_id: int, stored: Stored | None) -> ProcessResult:
        if stored is None:
            with self.db.sessions() as session:
                row = session.get(InboxItem, inbox_id)
                if row is None or row.state not in RETRYABLE:
                    return ProcessResult(inbox_id, "skipped")
                envelope_from, content_hash, inline = row.envelope_from, row.content_hash, row.raw
        self.support.current()  # as above; a failure here is not the message's
        try:
            if stored is None:
                raw = raw_message(self.blobs, content_hash, inline)
            else:  # just received: no need to read the row and the blob back
                raw, envelope_from = stored.raw, stored.envelope_from
            inbound, verdict = self._understand(raw, envelope_from)
            del raw
            with self.db.transaction() as session:
                return self._apply(session, inbox_id, inbound, verdict)
        except Exception as exc:
            log.warning("inbox %s failed: %s", inbox_id, exc, exc_info=True)
            attempts = self._mark_failed(inbox_id, exc)
            return ProcessResult(inbox_id, "failed", reason=_describe(exc), attempts=attempts)

    def process_pending(self, limit: int = 1000) -> list[ProcessResult]:
        """Process rows still in ``received`` (after a crash, or left by another process)."""
        with self.db.sessions() as session:
            ids = list(
                session.scalars(
                    select(InboxItem.id)
                    .where(InboxItem.state == InboxState.RECEIVED)
                    .order_by(InboxItem.id)
                    .limit(limit)
                )
            )
        return [self.process(i) for i in ids]

    def _apply(
        self, session: Session, inbox_id: int, inbound: InboundMessage, verdict: Classification
    ) -> ProcessResult:
        row = session.get(InboxItem, inbox_id, with_for_update=True)
        if row is None or row.state not in RETRYABLE:
            return ProcessResult(inbox_id, "skipped")  # another worker finished it first
        row.attempts += 1
        row.classification = verdict.kind
        return self._store(session, row, inbound, verdict)

    def _store(
        self, session: Session, row: InboxItem, inbound: InboundMessage, verdict: Classification
    ) -> ProcessResult:
        """Thread, store and run the rules for ``row`` (locked or just written by us)."""
        try:
            return self._store_one(session, row, inbound, verdict, self.clock())
        finally:
            forget_answers(session)  # reads asked ahead for this message and not taken

    def _store_one(
        self,
        session: Session,
        row: InboxItem,
        inbound: InboundMessage,
        verdict: Classification,
        now: datetime,
    ) -> ProcessResult:
        if verdict.kind == "loop":
            return self._finish(
                row, None, "dropped", "our own mail came back: " + "; ".join(verdict.reasons), now
            )
        if verdict.kind == "bounce":
            bounced = self._bounce(session, row, inbound, verdict, now)
            if bounced is not None:
                return bounced
        # On PostgreSQL, reads whose parameters are known now go with the next statement
        # (Prepared.ask): the sender's contact and hourly count, then what the rules read.
        self._ask_ahead(session, inbound, row, verdict, now)
        # Reads of what this transaction has not written yet (agents, earlier messages): no
        # need to flush the inbox row's change before them.
        with session.no_autoflush:
            sender = identify(session, inbound, row, self.settings)
            decision = decide(
                self._thread_input(inbound, row),
                SqlThreadLookup(session),
                self.keys,
                now,
                timedelta(days=self.settings.reopen_window_days),
                staff=sender.verified,
            )
        if decision.is_new and not verdict.may_open_ticket:
            return self._finish(
                row,
                None,
                "dropped",
                f"{verdict.kind} does not open tickets: {decision.reason}",
                now,
            )
        ask_ahead(self.rules, session, "ticket.created" if decision.is_new else "message.received")
        if sender.verified and not decision.is_new:
            reason = handle_agent_mail(
                self._agent_ctx(session, now), sender, inbound, row, decision, verdict.kind
            )
            return self._finish(row, decision.ticket_id, "attach", reason, now)
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
        return self._finish(row, ticket.id, decision.action, decision.reason, now)

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
        now,  # type: ignore[no-untyped-def]
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
        return self._finish(row, ticket.id, "attach", f"{reason}: {decided.summary}", now)

    @staticmethod
    def _ask_ahead(
        session: Session,
        inbound: InboundMessage,
        row: InboxItem,
        verdict: Classification,
        now: datetime,
    ) -> None:
        if inbound.from_addr is not None:
            ask_contact(session, inbound.from_addr.email)
        sender = inbound.from_addr.email if inbound.from_addr else row.sender
        if sender and verdict.may_auto_respond:  # as _within_rate will count
            ask_inbound_count_since(session, sender, now - timedelta(hours=1))

    def _within_rate(
        self,
        session: Session,
        ticket: Ticket,
        inbound: InboundMessage,
        row: InboxItem,
        now,  # type: ignore[no-untyped-def]
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

    @staticmethod
    def _finish(
        row: InboxItem, ticket_id: int | None, action: str, reason: str, now
    ) -> ProcessResult:  # type: ignore[no-untyped-def]
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

    def _thread_input(self, msg: InboundMessage, row: InboxItem) -> ThreadInput:
        recipients = [*row.envelope_to, *(a.email for a in (*msg.to, *msg.cc))]
        return ThreadInput(
            sender=msg.from_addr.email if msg.from_addr else row.sender,
            recipients=tuple(dict.fromkeys(r.lower() for r in recipients)),
            in_reply_to=tuple(m.lower() for m in msg.in_reply_to),
            references=tuple(m.lower() for m in msg.references),
            subject=msg.subject,
        )

    def _mark_failed(self, inbox_id: int, exc: BaseException) -> int:
        """Record the failure; return the row's failure count (0 if it could not be recorded)."""
        try:
            with self.db.transaction() as session:
                row = session.get(InboxItem, inbox_id)
                if row is not None and row.state in RETRYABLE:
                    row.state = InboxState.FAILED
                    row.attempts += 1
                    row.error = _describe(exc)
                return row.attempts if row is not None else 0
        except Exception:
            log.exception("could not mark inbox %s failed", inbox_id)
            return 0


def _describe(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" (at {last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"[:2000]
