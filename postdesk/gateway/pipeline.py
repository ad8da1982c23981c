"""The ingest pipeline: an inbox row -> parsed, classified, threaded, stored, ruled.

Parsing runs outside any transaction (it is the slow part and SQLite allows one writer);
threading, storing and the rules' outbox rows are written in one transaction that also
marks the inbox row processed. ``process`` works on a committed row: any failure leaves it
``failed`` with its error, to be retried — the raw message is never dropped.
``receive_and_process`` writes a new row in that same transaction (one commit), and
``receive_and_process_many`` several in one (group commit); if it fails, nothing of it is
kept and the caller stores each message on its own first. What each transaction does for
one row (thread, store, rules) is ``gateway/handle_row.py``.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from structlog.contextvars import bind_contextvars, bound_contextvars

from postdesk.clock import Clock, utcnow
from postdesk.contracts import BlobStore
from postdesk.gateway.handle_row import ProcessResult, RowHandler
from postdesk.gateway.parse_workers import Parsed, Understood, understand
from postdesk.gateway.receive import (
    QuickHeaders,
    ReceiveResult,
    keep,
    raw_message,
    record,
)
from postdesk.gateway.settings import Settings
from postdesk.gateway.support_addresses import SupportAddresses
from postdesk.inbound.classify import Classification, classify
from postdesk.inbound.message import Envelope, InboundMessage
from postdesk.inbound.parse import parse_message
from postdesk.outbound.limits import AutoReplyLimits
from postdesk.outbound.render import Renderer
from postdesk.outbound.ticket_mail import MailIdentity
from postdesk.rules.engine import Rule, RuleOutcome
from postdesk.rules.escalation import DEFAULT_HIERARCHY, Level
from postdesk.store.db import Database
from postdesk.store.enums import InboxState
from postdesk.store.models import InboxItem
from postdesk.store.prepared import forget_answers

__all__ = ["Pipeline", "ProcessResult", "Stored"]

log = logging.getLogger(__name__)
RETRYABLE = (InboxState.RECEIVED, InboxState.FAILED)


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
        self.blobs = blobs
        self.settings = settings
        self.renderer = renderer
        self.clock = clock
        self.keys = settings.signing_keys()
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
        self.handler = RowHandler(
            settings,
            blobs=blobs,
            support=self.support,
            renderer=renderer,
            ident=self.ident,
            rules=list(rules),
            escalation=tuple(escalation),
            clock=clock,
        )

    # The app hands in live views of these; the handler uses them.
    @property
    def rules(self) -> Sequence[Rule]:
        return self.handler.rules

    @rules.setter
    def rules(self, rules: Sequence[Rule]) -> None:
        self.handler.rules = rules

    @property
    def escalation(self) -> Sequence[Level]:
        return self.handler.escalation

    @escalation.setter
    def escalation(self, levels: Sequence[Level]) -> None:
        self.handler.escalation = levels

    @property
    def outcomes(self) -> list[RuleOutcome]:
        """The rules' outcomes for the last message (for dry runs)."""
        return self.handler.outcomes

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
        self, raw: bytes, envelope: Envelope, parsed: Parsed = None
    ) -> tuple[ReceiveResult, ProcessResult | None]:
        """Store a new message and process it in one transaction: one commit instead of two.

        A redelivery or duplicate is only recorded (None: the caller handles its original).
        If parsing or processing fails, nothing of this attempt is kept (the blob alone is
        harmless) and the exception propagates: the caller then stores the message on its
        own first, so that the failure is recorded against a durable row.
        """
        return self.receive_and_process_many([(raw, envelope)], [parsed])[0]

    def receive_and_process_many(
        self,
        messages: Sequence[tuple[bytes, Envelope]],
        parsed: Sequence[Parsed] = (),
    ) -> list[tuple[ReceiveResult, ProcessResult | None]]:
        """``receive_and_process`` for several messages, all in one transaction (group commit:
        one commit, and on SQLite one writer's turn, for all of them). If any of them fails,
        none is kept and the exception propagates. ``parsed``: for each message, its parse
        in a worker process (``gateway/parse_workers.py``) if one was started."""
        self.support.current()  # refresh the cache now, not inside the write transaction
        early = list(parsed) + [None] * (len(messages) - len(parsed))
        prepared = [
            self._prepare(raw, envelope, future)
            for (raw, envelope), future in zip(messages, early, strict=True)
        ]
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

    def _prepare(self, raw: bytes, envelope: Envelope, parsed: Parsed = None) -> _Prepared:
        """Everything before the transaction: the bytes placed, the message understood."""
        with bound_contextvars(inbox=None, message_id=None, ticket=None):
            content_hash, inline = keep(self.blobs, raw)
            done = _result(parsed)
            if done is None:  # not started in a worker, or it failed there: parse it here
                done = understand(
                    self.blobs, self.keys, raw, envelope.mail_from[:320], content_hash
                )
        return _Prepared(
            envelope, content_hash, inline, done.quick, len(raw), done.inbound, done.verdict
        )

    def _record_and_store(
        self, session: Session, item: _Prepared
    ) -> tuple[ReceiveResult, ProcessResult | None]:
        # Asked before the row is written, the handler's first reads go with its INSERT.
        asked = self.handler.ask_ahead(
            session,
            item.inbound,
            item.verdict,
            item.quick.sender,
            item.envelope.rcpt_to,
        )
        received, row = record(
            session,
            item.content_hash,
            item.quick,
            item.size,
            item.envelope,
            processing_as=item.verdict.kind,
            raw=item.inline,
            opens_ticket=asked.opens_ticket,
        )
        if row is None:
            forget_answers(session)  # a message seen before: nothing is handled
            return received, None
        bind_contextvars(inbox=row.id)
        return received, self.handler.handle(session, row, item.inbound, item.verdict, asked)

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
        return self.handler.handle(session, row, inbound, verdict)

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


def _result(parsed: Parsed) -> Understood | None:
    """A worker's parse, or None when there is none or it failed: the caller parses again,
    so a parse error is raised (and recorded) in this process, as without workers."""
    if parsed is None:
        return None
    try:
        return parsed.result()
    except Exception as exc:
        log.debug("parsing in a worker failed (%s); parsing here", type(exc).__name__)
        return None


def _describe(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" (at {last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"[:2000]
