"""Receive and process one message now: what the SMTP listener and ``postdesk ingest`` share.

The raw message is committed first (durable receive). Processing then runs at once, so the
sender learns about trouble while it can still retry: if processing fails, the inbox row is
marked failed with its error and the adapter answers "try again" (SMTP 451, ``ingest`` exit
75). The redelivery is recognised by its content hash and retries that row. After
``defer_attempts`` failures the message is accepted anyway and left failed in the inbox for
an operator: a sender's MTA would otherwise bounce mail that we hold.
"""

from __future__ import annotations

from dataclasses import dataclass

from postdesk.contracts import TemporaryFailure
from postdesk.gateway.pipeline import Pipeline, ProcessResult, Stored
from postdesk.gateway.receive import ReceiveResult


class ProcessingDeferred(TemporaryFailure):
    """Stored, but processing failed; the sender should deliver again later."""


@dataclass(frozen=True, slots=True)
class Accepted:
    received: ReceiveResult
    processed: ProcessResult | None  # None when there was nothing to do (a duplicate)


def process_received(
    pipeline: Pipeline,
    received: ReceiveResult,
    *,
    defer_attempts: int,
    stored: Stored | None = None,
) -> Accepted:
    """Process the row a receive produced (or the earlier row a redelivery points to).
    ``stored``: the message's bytes, when still at hand (saves reading them back)."""
    if received.outcome == "duplicate":
        return Accepted(received, None)
    inbox_id: int | None = received.inbox_id
    if received.outcome != "new":
        inbox_id, stored = received.original_id, None  # that row may be done: let it check
    assert inbox_id is not None
    # The pipeline itself skips rows that are already processed (a plain redelivery).
    result = pipeline.process(inbox_id, stored)
    if result.state == "skipped":
        return Accepted(received, None)
    if result.state == "failed" and result.attempts < defer_attempts:
        raise ProcessingDeferred(
            f"message stored as inbox #{inbox_id} but processing failed; please try again later"
        )
    return Accepted(received, result)
