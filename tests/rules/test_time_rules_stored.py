"""The time-based rules use the rules and templates edited in the admin (stored documents)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from postdesk.gateway.settings import Settings
from postdesk.rules.timed import run_time_rules
from postdesk.store.config_docs import save_document
from postdesk.store.db import Database
from postdesk.store.models import OutboxItem
from tests.rules import test_time_rules as timeline

env = timeline.env  # three tickets (pending, resolved, urgent P1) and a rules file
STORED = timeline.RULES.replace("pending_reminder_days: 3", "pending_reminder_days: 1")


def test_stored_rules_and_templates_drive_the_timers(env: tuple[Database, Settings]) -> None:
    db, settings = env
    two_days = timeline.T0 + timedelta(days=2)
    with db.transaction() as s:
        save_document(s, "rules", STORED, "boss@staff.example", two_days)
        subject = "Still there? {{ ticket.subject }}"
        save_document(
            s, "email/pending_reminder.subject.j2", subject, "boss@staff.example", two_days
        )
    report = run_time_rules(db, settings, two_days)  # the file says 3 days: too early for it
    assert len(report.reminders) == 1
    with db.sessions() as s:
        reminder = s.scalars(select(OutboxItem).where(OutboxItem.kind == "pending_reminder")).one()
    assert "Still there? pending" in reminder.subject
