"""``rules dry-run``: what the pipeline would do with a message, written nowhere.

The message is parsed (attachments into a throw-away blob store), classified and threaded
against the current store, and the rules run — all inside one transaction that is rolled
back. What the rules did before the rollback (audit entries, outgoing mail, notifications)
is the plan reported.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from postdesk.gateway.app import App
from postdesk.gateway.pipeline import Pipeline
from postdesk.inbound.classify import classify
from postdesk.inbound.parse import parse_message
from postdesk.rules.engine import Rule, RuleOutcome
from postdesk.store.blobs import FileBlobStore
from postdesk.store.models import AuditEntry, InboxItem, Notification, OutboxItem


@dataclass
class Plan:
    classification: str = ""
    thread: str = ""
    ticket_id: int | None = None
    outcomes: list[RuleOutcome] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    mail: list[str] = field(default_factory=list)
    notifications: list[str] = field(default_factory=list)


def dry_run(
    app: App, raw: bytes, rules: Sequence[Rule], *, sender: str = "", recipient: str = ""
) -> Plan:
    settings = app.settings
    with tempfile.TemporaryDirectory(prefix="postdesk-dry-run-") as tmp:
        blobs = FileBlobStore(Path(tmp))
        inbound = parse_message(raw, blobs)
        envelope_from = sender or (inbound.from_addr.email if inbound.from_addr else "")
        verdict = classify(inbound, raw, envelope_from=envelope_from, keys=settings.signing_keys())
        pipeline = Pipeline(
            app.db, blobs, settings, renderer=app.renderer, rules=rules, clock=app.clock
        )
        plan = Plan(classification=verdict.kind)
        session = app.db.sessions()
        try:
            marks = {m: session.scalar(select(func.max(m.id))) or 0 for m in _WATCHED}
            row = InboxItem(
                content_hash="dry-run-" + uuid.uuid4().hex,  # 64 chars at most
                message_id=inbound.message_id,
                sender=envelope_from,
                source="dry-run",
                envelope_from=envelope_from,
                envelope_to=[recipient or settings.primary_address],
                size=len(raw),
            )
            session.add(row)
            session.flush()
            result = pipeline._apply(session, row.id, inbound, verdict)
            session.flush()
            plan.thread = f"{result.action}: {result.reason}"
            plan.ticket_id = result.ticket_id
            plan.outcomes = list(pipeline.outcomes)
            _collect(session, plan, marks)
        finally:
            session.rollback()  # the whole point: nothing is written
            session.close()
    return plan


_WATCHED = (AuditEntry, OutboxItem, Notification)


def _collect(session, plan: Plan, marks: dict) -> None:  # type: ignore[no-untyped-def,type-arg]
    for a in session.scalars(
        select(AuditEntry).where(AuditEntry.id > marks[AuditEntry]).order_by(AuditEntry.id)
    ):
        if a.action == "rule":
            continue  # shown with the outcomes
        change = f"{a.old_value} -> {a.new_value}" if a.field else ""
        plan.changes.append(
            " ".join(x for x in (a.actor + ":", a.action, change, a.detail or "") if x)
        )
    for o in session.scalars(
        select(OutboxItem).where(OutboxItem.id > marks[OutboxItem]).order_by(OutboxItem.id)
    ):
        plan.mail.append(f"{o.kind} to {', '.join(o.recipients)}: {o.subject} [{o.state}]")
    for n in session.scalars(
        select(Notification).where(Notification.id > marks[Notification]).order_by(Notification.id)
    ):
        plan.notifications.append(f"agent #{n.agent_id} {n.kind}: {n.summary}")
