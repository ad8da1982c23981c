"""Logging: readable lines on a terminal, one JSON object per line in production.

Every library logs through the standard ``logging`` module; structlog's ``ProcessorFormatter``
renders those records and merges the context bound with ``structlog.contextvars`` — the
pipeline binds ``inbox``, ``message_id`` and ``ticket`` while it works on a message and the
outbox worker binds ``outbox``, ``ticket`` and ``message_id`` while it sends, so every line
about a message can be found by its ticket or Message-ID.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


# What ``configure_logging`` was last asked for (None: not called), for worker processes.
configured: tuple[bool, bool] | None = None


def configure_logging(*, json: bool = False, verbose: bool = False) -> None:
    """Route all logging through structlog's formatter (idempotent: replaces our handler)."""
    global configured
    configured = (json, verbose)
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        # Plain tracebacks: with ``rich`` installed structlog would pretty-print them, which
        # costs seconds of CPU per logged exception on the SMTP event loop (a database outage
        # logs one per delivery attempt).
        else structlog.dev.ConsoleRenderer(
            colors=False, pad_event_to=0, exception_formatter=structlog.dev.plain_traceback
        )
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if json else _keep,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.set_name("postdesk")
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if h.get_name() != "postdesk"] + [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # aiosmtpd logs every SMTP command at INFO; keep that for --verbose.
    logging.getLogger("mail.log").setLevel(logging.DEBUG if verbose else logging.WARNING)
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )


def _keep(logger: Any, name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    return event  # the console renderer formats exceptions itself
