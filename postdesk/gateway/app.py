"""The composition root: one settings object in, every part built and wired once."""

from __future__ import annotations

from collections.abc import Sequence

from postdesk.clock import Clock, utcnow
from postdesk.contracts import Transport
from postdesk.gateway.accept import Accepted, accept_many, accept_message
from postdesk.gateway.parse_workers import Parsed
from postdesk.gateway.pipeline import Pipeline
from postdesk.gateway.receive import ReceiveResult, receive
from postdesk.gateway.settings import Settings
from postdesk.gateway.support_addresses import SupportAddresses
from postdesk.inbound.message import Envelope
from postdesk.outbound.render import Renderer
from postdesk.rules.live import LiveRules
from postdesk.rules.schema import RulesFile
from postdesk.rules.suggest import SuggestConfig
from postdesk.store.blobs import FileBlobStore
from postdesk.store.config_docs import DocumentCache
from postdesk.store.db import Database


class App:
    def __init__(
        self, settings: Settings, *, clock: Clock = utcnow, transport: Transport | None = None
    ) -> None:
        self.settings = settings
        self.clock = clock
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(settings.resolved_database_url)
        self.blobs = FileBlobStore(settings.blob_dir)
        # Rules and email templates edited in the admin, re-read every few seconds.
        self.documents = DocumentCache(self.db.engine)
        self.renderer = Renderer(overrides=self.documents)
        self.support = SupportAddresses(settings.support_addresses, self.db)
        # Validated at start: a bad rules file stops the process with the rule and field named.
        self.live_rules = LiveRules(
            self.documents, settings.rules_file, settings.on_call, kb_suggestions(settings)
        )
        self.rules = self.live_rules.rules
        self.pipeline = Pipeline(
            self.db,
            self.blobs,
            settings,
            renderer=self.renderer,
            rules=self.rules,
            clock=clock,
            support=self.support,
        )
        # The pipeline keeps these lists: live views, so it runs the rules of the moment.
        self.pipeline.rules = self.rules
        self.pipeline.escalation = self.live_rules.escalation
        self._transport = transport

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            from postdesk.outbound.transport import transport_from_settings

            self._transport = transport_from_settings(self.settings)
        return self._transport

    def receive(self, raw: bytes, envelope: Envelope) -> ReceiveResult:
        return receive(self.db, self.blobs, raw, envelope)

    def accept(self, raw: bytes, envelope: Envelope) -> Accepted:
        """Store, then process at once; ``ProcessingDeferred`` means the sender should retry."""
        return accept_message(
            self.pipeline, raw, envelope, defer_attempts=self.settings.smtp_defer_failed_attempts
        )

    def accept_many(
        self,
        messages: Sequence[tuple[bytes, Envelope]],
        parsed: Sequence[Parsed] = (),
    ) -> list[Accepted | Exception]:
        """``accept`` for messages that arrived together: one transaction when all go well.
        ``parsed``: their parses begun in worker processes, if any."""
        return accept_many(
            self.pipeline,
            messages,
            defer_attempts=self.settings.smtp_defer_failed_attempts,
            parsed=parsed,
        )

    @property
    def rules_config(self) -> RulesFile:
        return self.live_rules.config

    def close(self) -> None:
        self.db.dispose()


def kb_suggestions(settings: Settings) -> SuggestConfig:
    return SuggestConfig(
        enabled=settings.kb_suggest,
        threshold=settings.kb_suggest_threshold,
        limit=settings.kb_suggest_max,
    )
