"""Time-based rules with a controllable clock: reminders, auto-close, Resolved -> Closed, SLA
breaches, time.passed rules — and running the job twice changes nothing more."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from postdesk.gateway.settings import Settings
from postdesk.rules.timed import run_time_rules
from postdesk.store.db import Database
from postdesk.store.models import (
    Agent,
    AuditEntry,
    Base,
    ClientOrg,
    Contact,
    Notification,
    OutboxItem,
    Ticket,
)
from tests.support import with_settings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RULES = """
settings:
  escalation:
    - {name: manager, managers: true}
    - {name: it, team: it-support}
  timers:
    pending_reminder_days: 3
    pending_close_days: 10
    sla:
      P1: {first_response_hours: 1, resolution_hours: 8}
rules:
  - name: stale-p1
    events: [time.passed]
    when:
      - {field: ticket.priority, equals: P1}
      - {field: ticket.idle_hours, at_least: 2}
    then: [{add_tag: stale}]
"""


@pytest.fixture
def env(settings: Settings, tmp_path: Path) -> Iterator[tuple[Database, Settings]]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    settings = with_settings(settings, rules_file=rules)
    db = Database(settings.resolved_database_url)
    with db.transaction() as s:
        csm = Agent(email="carla@example.com", team="support")
        s.add_all(
            [
                csm,
                Agent(email="max@example.com", role="manager"),
                Agent(email="ivan@example.com", team="it-support"),
            ]
        )
        s.flush()
        org = ClientOrg(name="Acme", csm_agent_id=csm.id)
        s.add(org)
        s.flush()
        ana = Contact(email="ana@client.example", name="Ana", org_id=org.id)
        s.add(ana)
        s.flush()
        common = dict(
            requester_id=ana.id,
            org_id=org.id,
            support_address="support@example.com",
            created_at=T0,
            updated_at=T0,
            status_changed_at=T0,
            tags=[],
            fields={},
        )
        s.add_all(
            [
                Ticket(subject="pending", status="pending", priority="P3", **common),
                Ticket(
                    subject="resolved", status="resolved", resolved_at=T0, priority="P3", **common
                ),
                Ticket(subject="urgent", status="open", priority="P1", **common),
            ]
        )
    yield db, settings
    db.dispose()


def _state(db: Database) -> dict[str, object]:
    with db.sessions() as s:
        counts = {
            t.name: s.scalar(select(func.count()).select_from(t))
            for t in Base.metadata.sorted_tables
        }
        tickets = {
            t.subject: (t.status, t.escalation_level, tuple(t.tags))
            for t in s.scalars(select(Ticket).where(Ticket.type != "escalation"))
        }
    return {"counts": counts, "tickets": tickets}


def _run_twice(db: Database, settings: Settings, now: datetime):  # type: ignore[no-untyped-def]
    report = run_time_rules(db, settings, now)
    after = _state(db)
    again = run_time_rules(db, settings, now)
    assert again.total == 0, again
    assert _state(db) == after  # idempotent: nothing more the second time
    return report


def _mail(db: Database, kind: str) -> list[list[str]]:
    with db.sessions() as s:
        return [o.recipients for o in s.scalars(select(OutboxItem).where(OutboxItem.kind == kind))]


def test_the_timeline(env: tuple[Database, Settings]) -> None:
    db, settings = env
    ids = {}
    with db.sessions() as s:
        ids = {t.subject: t.id for t in s.scalars(select(Ticket))}

    # +30 min: nothing is due
    assert _run_twice(db, settings, T0 + timedelta(minutes=30)).total == 0

    # +2 h: the P1 missed its first-response target -> notified, escalated (level 1), tagged
    r = _run_twice(db, settings, T0 + timedelta(hours=2))
    assert r.breaches == [f"{ids['urgent']}:first_response"]
    assert r.fired == [f"{ids['urgent']}:stale-p1"]
    assert sorted(r for rs in _mail(db, "notify:sla_breach") for r in rs) == [
        "carla@example.com",
        "max@example.com",
    ]
    assert _state(db)["tickets"]["urgent"] == ("open", 1, ("stale",))  # type: ignore[index]
    # the escalation rule notified management on the internal escalation ticket
    assert _mail(db, "notify:escalated") == [["max@example.com"]]

    # +9 h: resolution target missed too -> level 2 (it-support)
    r = _run_twice(db, settings, T0 + timedelta(hours=9))
    assert r.breaches == [f"{ids['urgent']}:resolution"]
    assert _state(db)["tickets"]["urgent"][1] == 2  # type: ignore[index]
    assert ["ivan@example.com"] in _mail(db, "notify:escalated")

    # +4 days: one reminder to the client, once per pending period
    r = _run_twice(db, settings, T0 + timedelta(days=4))
    assert r.reminders == [ids["pending"]]
    assert _run_twice(db, settings, T0 + timedelta(days=5)).total == 0
    assert _mail(db, "pending_reminder") == [["ana@client.example"]]

    # +10 days: Pending closed with a closing message
    r = _run_twice(db, settings, T0 + timedelta(days=10))
    assert r.auto_closed == [ids["pending"]] and r.reminders == []
    assert _mail(db, "pending_closed") == [["ana@client.example"]]
    assert _state(db)["tickets"]["pending"][0] == "closed"  # type: ignore[index]

    # +13 days: the resolved ticket is still inside the 14-day reopen window
    assert _run_twice(db, settings, T0 + timedelta(days=13)).closed_resolved == []
    r = _run_twice(db, settings, T0 + timedelta(days=14, minutes=1))
    assert r.closed_resolved == [ids["resolved"]]
    assert _state(db)["tickets"]["resolved"][0] == "closed"  # type: ignore[index]

    with db.sessions() as s:
        actors = set(s.scalars(select(AuditEntry.actor).where(AuditEntry.action == "status")))
        assert {"rule:pending-auto-close", "rule:close-resolved"} <= actors
        assert s.scalar(select(func.count()).select_from(Notification)) >= 3


def test_a_first_response_stops_the_first_response_clock(env: tuple[Database, Settings]) -> None:
    db, settings = env
    with db.transaction() as s:
        urgent = s.scalars(select(Ticket).where(Ticket.subject == "urgent")).one()
        urgent.first_response_at = T0 + timedelta(minutes=20)
    r = run_time_rules(db, settings, T0 + timedelta(hours=2))
    assert r.breaches == []


def test_a_tick_locks_only_the_tickets_a_time_rule_would_fire_on(
    env: tuple[Database, Settings],
) -> None:
    from postdesk.rules.timed import _due, _env

    db, settings = env
    with db.sessions() as s:
        ids = {t.subject: t.id for t in s.scalars(select(Ticket))}
    tick = _env(settings, db)
    timed = [r for r in tick.rules if "time.passed" in r.events]
    assert _due(db, timed, tick, T0 + timedelta(minutes=30)) == []  # not idle long enough
    assert _due(db, timed, tick, T0 + timedelta(hours=3)) == [ids["urgent"]]
    run_time_rules(db, settings, T0 + timedelta(hours=3))
    assert _due(db, timed, tick, T0 + timedelta(hours=4)) == []  # fired once in this status


def test_a_business_hours_sla_waits_through_the_night(env: tuple[Database, Settings]) -> None:
    db, settings = env
    assert settings.rules_file is not None
    settings.rules_file.write_text(
        "settings:\n"
        "  business_hours: {timezone: UTC, start: '09:00', end: '17:00'}\n"
        "  timers:\n"
        "    sla:\n"
        "      P1: {first_response_hours: 10, clock: business}\n"
    )
    with db.sessions() as s:
        urgent = s.scalars(select(Ticket.id).where(Ticket.subject == "urgent")).one()
    # Opened Monday 09:00 UTC: 10 wall hours are up at 19:00, 10 working hours on Tuesday 11:00
    assert _run_twice(db, settings, T0 + timedelta(hours=23)).breaches == []
    r = _run_twice(db, settings, T0 + timedelta(hours=26))
    assert r.breaches == [f"{urgent}:first_response"]
