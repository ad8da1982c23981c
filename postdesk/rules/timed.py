"""Time-based rules, run by the leader process's scheduler: ``run_time_rules(db, settings, now)``.

- a reminder to the client once per pending period, after ``pending_reminder_days``;
- Pending for ``pending_close_days``: closed, with a closing message;
- Resolved for longer than the reopen window: Closed;
- SLA targets per priority (first response, resolution): a breach notifies the assignee (or
  CSM) and the managers and escalates, once per ticket and target;
- rules of the rules file listening to ``time.passed``: each fires once per ticket and status.

Idempotent: every step looks for its own mark (a status, or an audit entry written with it in
the same transaction), so running twice at the same ``now`` changes nothing more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from postdesk.outbound.agent_notify import Notice, notify_agents
from postdesk.outbound.limits import AutoReplyLimits
from postdesk.outbound.render import Renderer
from postdesk.outbound.suppression import prune_auto_replies
from postdesk.outbound.ticket_mail import MailIdentity, send_ticket_mail
from postdesk.rules import recipients
from postdesk.rules.business_time import business_elapsed
from postdesk.rules.document_reminders import run_document_reminders
from postdesk.rules.engine import Event, Rule, RuleContext, dispatch, event_for
from postdesk.rules.escalation import escalate
from postdesk.rules.fire import fire
from postdesk.rules.live import LiveRules
from postdesk.rules.schema import BusinessHours, RulesFile
from postdesk.store import changes
from postdesk.store.audit_log import audit
from postdesk.store.config_docs import DocumentCache
from postdesk.store.db import Database
from postdesk.store.documents import has_open_request
from postdesk.store.enums import Status, TicketType
from postdesk.store.models import AuditEntry, Ticket
from postdesk.store.workflow import ACTIVE, WorkflowError

if TYPE_CHECKING:
    from postdesk.gateway.settings import Settings

CLIENT_TYPES = (TicketType.SUPPORT, TicketType.QUESTION, TicketType.CONVERSATION)


@dataclass
class TimedReport:
    reminders: list[int] = field(default_factory=list)
    auto_closed: list[int] = field(default_factory=list)
    closed_resolved: list[int] = field(default_factory=list)
    breaches: list[str] = field(default_factory=list)  # "<ticket>:<target>"
    fired: list[str] = field(default_factory=list)  # "<ticket>:<rule>"
    document_reminders: list[int] = field(default_factory=list)  # request ids

    @property
    def total(self) -> int:
        parts: tuple[list[Any], ...] = (
            self.reminders,
            self.auto_closed,
            self.closed_resolved,
            self.breaches,
            self.fired,
            self.document_reminders,
        )
        return sum(len(p) for p in parts)


@dataclass
class _Env:
    rules: list[Rule]
    config: RulesFile
    renderer: Renderer
    ident: MailIdentity
    reopen_window: timedelta


def _env(settings: Settings, db: Database) -> _Env:
    # The rules and templates in force: edits made in the admin included.
    docs = DocumentCache(db.engine)
    rules, config = LiveRules(docs, settings.rules_file, settings.on_call).snapshot()
    limits = AutoReplyLimits(
        timedelta(minutes=settings.auto_reply_min_interval_minutes), settings.auto_reply_max_per_day
    )
    ident = MailIdentity(settings.support_name, settings.key_bytes(), settings.portal_url, limits)
    return _Env(
        rules, config, Renderer(overrides=docs), ident, timedelta(days=settings.reopen_window_days)
    )


def run_time_rules(db: Database, settings: Settings, now: datetime) -> TimedReport:
    env = _env(settings, db)
    timers = env.config.settings.timers
    report = TimedReport()
    # A ticket waiting for requested documents gets the document reminders instead.
    pending = (Ticket.status == Status.PENDING, ~has_open_request())
    if timers.pending_reminder_days is not None:
        cutoff = now - timedelta(days=timers.pending_reminder_days)
        for tid in _ids(db, *pending, Ticket.status_changed_at <= cutoff):
            _each(db, tid, lambda s, t: _remind(s, t, env, now, report))
    if timers.pending_close_days is not None:
        cutoff = now - timedelta(days=timers.pending_close_days)
        for tid in _ids(db, *pending, Ticket.status_changed_at <= cutoff):
            _each(db, tid, lambda s, t: _close_pending(s, t, env, now, report))
    if timers.close_resolved:
        cutoff = now - env.reopen_window
        for tid in _ids(db, Ticket.status == Status.RESOLVED, Ticket.resolved_at <= cutoff):
            _each(db, tid, lambda s, t: _close_resolved(s, t, env, now, report))
    for priority, sla in timers.sla.items():
        for target, hours in (
            ("first_response", sla.first_response_hours),
            ("resolution", sla.resolution_hours),
        ):
            if hours is None:
                continue
            cond = [
                Ticket.priority == priority,
                Ticket.created_at <= now - timedelta(hours=hours),
                Ticket.type.in_(CLIENT_TYPES),
                Ticket.status.in_(sorted(ACTIVE)),
            ]
            if target == "first_response":
                cond.append(Ticket.first_response_at.is_(None))
            due = _ids(db, *cond, ~_marked("sla_breach", target))
            if sla.clock == "business":  # wall time is an upper bound; count working hours
                due = _business_due(db, due, hours, env.config.settings.business_hours, now)
            for tid in due:
                _each(db, tid, lambda s, t, tg=target: _breach(s, t, tg, env, now, report))
    report.document_reminders = run_document_reminders(
        db, settings, now, ident=env.ident, renderer=env.renderer
    )
    timed = [r for r in env.rules if "time.passed" in r.events]
    if timed:
        for tid in _due(db, timed, env, now):
            _each(db, tid, lambda s, t: _time_passed(s, t, timed, env, now, report))
    with db.transaction() as session:
        prune_auto_replies(session, now)
    return report


def _due(db: Database, timed: Sequence[Rule], env: _Env, now: datetime) -> list[int]:
    """The active tickets a time rule would fire on, found without locks or writes: a tick
    then locks only these, not every open ticket (``_time_passed`` checks again, locked)."""
    ids = _ids(db, Ticket.status.in_(sorted(ACTIVE)))
    due: list[int] = []
    once = [_OncePerStatus(r) for r in timed]
    for start in range(0, len(ids), 500):
        with db.sessions() as s:
            chunk = s.scalars(select(Ticket).where(Ticket.id.in_(ids[start : start + 500])))
            for t in chunk:
                ctx = _context(s, t, env, now)
                if any(rule.check(ctx) is not None for rule in once):
                    due.append(t.id)
    return sorted(due)


def _context(s: Session, t: Ticket, env: _Env, now: datetime) -> RuleContext:
    return RuleContext(
        session=s,
        event=Event("time.passed", t.id, "scheduler"),
        ticket=t,
        now=now,
        renderer=env.renderer,
        ident=env.ident,
        may_auto_respond=True,
    )


def _business_due(
    db: Database, ids: list[int], hours: float, calendar: BusinessHours, now: datetime
) -> list[int]:
    target = timedelta(hours=hours)
    with db.sessions() as s:
        rows = s.execute(select(Ticket.id, Ticket.created_at).where(Ticket.id.in_(ids))).all()
    return sorted(i for i, at in rows if business_elapsed(at, now, calendar) >= target)


def _ids(db: Database, *where) -> list[int]:  # type: ignore[no-untyped-def]
    with db.sessions() as s:
        return list(s.scalars(select(Ticket.id).where(*where).order_by(Ticket.id)))


def _each(db: Database, ticket_id: int, step) -> None:  # type: ignore[no-untyped-def]
    """One ticket per transaction, locked and re-read: another change may have come first."""
    with db.transaction() as s:
        ticket = s.get(Ticket, ticket_id, with_for_update={"of": Ticket})
        if ticket is not None:
            step(s, ticket)


def _marked(action: str, field: str | None = None, since=None):  # type: ignore[no-untyped-def]
    q = select(AuditEntry.id).where(AuditEntry.ticket_id == Ticket.id, AuditEntry.action == action)
    if field is not None:
        q = q.where(AuditEntry.field == field)
    if since is not None:
        q = q.where(AuditEntry.at >= since)
    return exists(q)


def _has_mark(s: Session, t: Ticket, action: str, field: str | None = None, since=None) -> bool:  # type: ignore[no-untyped-def]
    q = select(AuditEntry.id).where(AuditEntry.ticket_id == t.id, AuditEntry.action == action)
    if field is not None:
        q = q.where(AuditEntry.field == field)
    if since is not None:
        q = q.where(AuditEntry.at >= since)
    return s.scalar(q.limit(1)) is not None


def _mail_client(s: Session, t: Ticket, template: str, env: _Env, now: datetime) -> None:
    if t.requester is None or t.type not in CLIENT_TYPES:
        return
    send_ticket_mail(
        s,
        ident=env.ident,
        renderer=env.renderer,
        ticket=t,
        template=template,
        kind=template,
        to=[t.requester.email],
        context={"requester_name": t.requester.name},
        now=now,
        capped=False,  # one per pending period by construction; not an answer to a mail
    )


def _remind(s: Session, t: Ticket, env: _Env, now: datetime, report: TimedReport) -> None:
    if t.status != Status.PENDING or _has_mark(s, t, "reminder", since=t.status_changed_at):
        return
    close_days = env.config.settings.timers.pending_close_days
    if close_days is not None and t.status_changed_at <= now - timedelta(days=close_days):
        return  # closing now; a reminder just before would be noise
    _mail_client(s, t, "pending_reminder", env, now)
    audit(s, t.id, "rule:pending-reminder", "reminder", detail="client reminded", at=now)
    report.reminders.append(t.id)


def _close_pending(s: Session, t: Ticket, env: _Env, now: datetime, report: TimedReport) -> None:
    if t.status != Status.PENDING:
        return
    _mail_client(s, t, "pending_closed", env, now)
    change = changes.set_status(
        s,
        t,
        Status.CLOSED,
        actor="rule:pending-auto-close",
        now=now,
        detail="no answer from the client",
    )
    _fire(s, t, env, now, [event_for(change)])
    report.auto_closed.append(t.id)


def _close_resolved(s: Session, t: Ticket, env: _Env, now: datetime, report: TimedReport) -> None:
    if (
        t.status != Status.RESOLVED
        or t.resolved_at is None
        or t.resolved_at > now - env.reopen_window
    ):
        return
    change = changes.set_status(
        s,
        t,
        Status.CLOSED,
        actor="rule:close-resolved",
        now=now,
        detail="the reopen window has passed",
    )
    _fire(s, t, env, now, [event_for(change)])
    report.closed_resolved.append(t.id)


def _breach(
    s: Session, t: Ticket, target: str, env: _Env, now: datetime, report: TimedReport
) -> None:
    if _has_mark(s, t, "sla_breach", target) or t.status not in ACTIVE:
        return
    policy = env.config.settings
    label = target.replace("_", " ")
    audit(
        s,
        t.id,
        "rule:sla",
        "sla_breach",
        field=target,
        detail=f"{t.priority} {label} target missed",
        at=now,
    )
    agents = recipients.resolve(s, t, ["assignee_or_csm", "managers"], policy)
    notify_agents(
        s,
        ident=env.ident,
        renderer=env.renderer,
        ticket=t,
        agents=agents,
        notice=Notice("sla_breach", f"{t.priority} {label} target missed", "rule:sla"),
        now=now,
    )
    events: list[Event | None] = []
    if policy.timers.escalate_on_breach:
        try:
            done = escalate(
                s,
                t,
                "rule:sla",
                now,
                hierarchy=policy.escalation,
                reason=f"SLA {label} target missed",
            )
            events.append(event_for(done.change))
        except WorkflowError as exc:
            audit(s, t.id, "rule:sla", "rule_refused", detail=f"escalation: {exc}", at=now)
    _fire(s, t, env, now, events)
    report.breaches.append(f"{t.id}:{target}")


class _OncePerStatus:
    """A time.passed rule fires once per ticket and status period, not at every tick."""

    def __init__(self, rule: Rule) -> None:
        self.rule, self.name, self.description = rule, rule.name, rule.description
        self.events: tuple[str, ...] = ("time.passed",)

    def check(self, ctx: RuleContext) -> str | None:
        fired = ctx.session.scalar(
            select(AuditEntry.id)
            .where(
                AuditEntry.ticket_id == ctx.ticket.id,
                AuditEntry.action == "rule",
                AuditEntry.actor == f"rule:{self.name}",
                AuditEntry.detail.like(f"{self.name} on time.passed:%"),
                AuditEntry.at >= ctx.ticket.status_changed_at,
            )
            .limit(1)
        )
        if fired is not None:
            return None
        return self.rule.check(ctx)

    def apply(self, ctx: RuleContext) -> None:
        self.rule.apply(ctx)
        ctx.facts.setdefault("fired", []).append(self.name)


def _time_passed(
    s: Session, t: Ticket, timed: Sequence[Rule], env: _Env, now: datetime, report: TimedReport
) -> None:
    if t.status not in ACTIVE:
        return
    wrapped: list[Rule] = [_OncePerStatus(r) for r in timed]
    others = [r for r in env.rules if "time.passed" not in r.events]
    ctx = _context(s, t, env, now)
    outcomes = dispatch([*wrapped, *others], ctx, [ctx.event])
    report.fired.extend(
        f"{t.id}:{o.rule}" for o in outcomes if o.matched and o.event == "time.passed"
    )


def _fire(s: Session, t: Ticket, env: _Env, now: datetime, events: list[Event | None]) -> None:
    fire(s, env.rules, ticket=t, events=events, now=now, renderer=env.renderer, ident=env.ident)
