"""Liveness, readiness and Prometheus metrics read from the database at scrape time.

The figures come from the tables, not from in-process counters, so every gateway process
sharing one database reports the same numbers and a restart loses nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry
from sqlalchemy import func, select, text
from starlette.responses import JSONResponse, Response

from postdesk.store.db import Database
from postdesk.store.enums import InboxState, OutboxState
from postdesk.store.mailbox_models import MailboxState
from postdesk.store.models import InboxItem, OutboxItem

router = APIRouter()


class DatabaseCollector:
    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Metric]:
        with self.db.sessions() as s:
            inbox = dict(
                s.execute(select(InboxItem.state, func.count()).group_by(InboxItem.state)).all()
            )
            outbox = dict(
                s.execute(select(OutboxItem.state, func.count()).group_by(OutboxItem.state)).all()
            )
            mailboxes = list(s.scalars(select(MailboxState)))
        received = CounterMetricFamily("postdesk_messages_received", "Messages stored on arrival")
        received.add_metric([], sum(inbox.values()))
        yield received
        by_state = GaugeMetricFamily(
            "postdesk_inbox_messages", "Received messages by state", labels=["state"]
        )
        for state in InboxState:
            by_state.add_metric([state.value], inbox.get(state.value, 0))
        yield by_state
        for name in (InboxState.PROCESSED.value, InboxState.FAILED.value):
            c = CounterMetricFamily(f"postdesk_messages_{name}", f"Messages {name}")
            c.add_metric([], inbox.get(name, 0))
            yield c
        out = GaugeMetricFamily(
            "postdesk_outbox_messages", "Outgoing mail by state", labels=["state"]
        )
        for out_state in OutboxState:
            out.add_metric([out_state.value], outbox.get(out_state.value, 0))
        yield out
        backlog = GaugeMetricFamily("postdesk_outbox_backlog", "Outgoing mail waiting to be sent")
        backlog.add_metric([], outbox.get(OutboxState.PENDING.value, 0))
        yield backlog
        up = GaugeMetricFamily(
            "postdesk_mailbox_connected", "IMAP mailbox connected", labels=["mailbox"]
        )
        lag = GaugeMetricFamily(
            "postdesk_mailbox_backlog", "IMAP messages not yet fetched", labels=["mailbox"]
        )
        for m in mailboxes:
            up.add_metric([m.name], 1 if m.connected else 0)
            lag.add_metric([m.name], m.backlog)
        yield up
        yield lag


def registry_for(db: Database) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(db))  # type: ignore[arg-type]
    return registry


@router.get("/healthz", include_in_schema=False)
def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz", include_in_schema=False)
def readyz(request: Request) -> JSONResponse:
    try:
        with request.app.state.admin.core.db.sessions() as s:
            s.execute(text("SELECT 1"))
    except Exception as exc:
        return JSONResponse({"status": "unavailable", "error": type(exc).__name__}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)
