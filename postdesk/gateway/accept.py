"""Receive and process one message now: what the SMTP listener and ``postdesk ingest`` share.

The raw message is committed before the sender is answered, and processing runs at once,
so the sender learns about trouble while it can still retry. Over SMTP a new message is
stored and processed in one transaction (``accept_message``); ``postdesk ingest`` commits
the row first and processes it after (``process_received``), as every failure does. If
processing fails, the inbox row is marked failed with its error and the adapter answers
"try again" (SMTP 451, ``ingest`` exit 75). The redelivery is recognised by its content hash
and retries that row. After ``defer_attempts`` failures the message is accepted anyway and
left failed in the inbox for an operator: a sender's MTA would otherwise bounce mail that
we hold.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from postdesk.contracts import TemporaryFailure
from postdesk.gateway.parse_workers import Parsed
from postdesk.gateway.pipeline import Pipeline, ProcessResult, Stored
from postdesk.gateway.receive import ReceiveResult, receive
from postdesk.inbound.message import Envelope

log = logging.getLogger(__name__)


class ProcessingDeferred(TemporaryFailure):
    """Stored, but processing failed; the sender should deliver again later."""


@dataclass(frozen=True, slots=True)
class Accepted:
    received: ReceiveResult
    processed: ProcessResult | None  # None when there was nothing to do (a duplicate)


def accept_message(
    pipeline: Pipeline,
    raw: bytes,
    envelope: Envelope,
    *,
    defer_attempts: int,
    parsed: Parsed = None,
) -> Accepted:
    """Store ``raw`` and process it now. A new message that processes cleanly costs one
    transaction. A redelivery or duplicate is recorded in it and handled as before; after a
    failure the message takes the two steps: its row is committed first, then processing
    runs again and records the failure against the row."""
    try:
        received, processed = pipeline.receive_and_process(raw, envelope, parsed)
    except Exception:
        # Expected to fail again just below, where the failure is recorded; logged here too
        # so that a fault of this path alone (every message taking two steps) shows.
        log.warning("processing in the receiving transaction failed; storing first", exc_info=True)
    else:
        if processed is not None:
            return Accepted(received, processed)
        # A duplicate, or a redelivery whose first arrival may still need processing.
        return process_received(pipeline, received, defer_attempts=defer_attempts)
    received = receive(pipeline.db, pipeline.blobs, raw, envelope)
    return process_received(
        pipeline,
        received,
        defer_attempts=defer_attempts,
        stored=Stored(raw, envelope.mail_from[:320]),
    )


def accept_many(
    pipeline: Pipeline,
    messages: Sequence[tuple[bytes, Envelope]],
    *,
    defer_attempts: int,
    parsed: Sequence[Parsed] = (),
) -> list[Accepted | Exception]:
    """``accept_message`` for messages that arrived together, in one transaction when they all
    process cleanly (group commit). If any of them fails, that transaction keeps nothing and
    each message is accepted on its own, so one bad message costs the others only time. The
    outcome of each, in order: its ``Accepted``, or the exception its sender must hear of.
    ``parsed``: the messages' parses started in worker processes, where there are any."""
    results: list[Accepted | Exception] = []
    early = list(parsed) + [None] * (len(messages) - len(parsed))
    if len(messages) > 1:
        try:
            outcomes = pipeline.receive_and_process_many(messages, parsed)
        except Exception:
            log.warning("a batch of %d failed; accepting one by one", len(messages), exc_info=True)
        else:
            for received, processed in outcomes:
                try:
                    if processed is None:  # a duplicate or a redelivery: as accept_message does
                        results.append(
                            process_received(pipeline, received, defer_attempts=defer_attempts)
                        )
                    else:
                        results.append(Accepted(received, processed))
                except Exception as exc:
                    results.append(exc)
            return results
    for (raw, envelope), future in zip(messages, early, strict=True):
        try:
            results.append(
                accept_message(
                    pipeline, raw, envelope, defer_attempts=defer_attempts, parsed=future
                )
            )
        except Exception as exc:
            results.append(exc)
    return results


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
