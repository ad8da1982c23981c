"""The ticket views on SQLite and PostgreSQL: which ticket shows in which queue."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from postdesk.store.db import Database
from postdesk.store.models import Agent, ClientOrg, Ticket
from postdesk.store.views import VIEWS, Filters, count_view, list_view, view_query

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# (subject, status, assignee, type, priority)
ROWS = [
    ("new unassigned", "new", None, "support", "P3"),
    ("open mine", "open", "me", "support", "P1"),
    ("pending mine", "pending", "me", "support", "P3"),
    ("hold other", "on-hold", "other", "support", "P2"),
    ("open other 100%_x", "open", "other", "question", "P3"),
    ("resolved mine", "resolved", "me", "support", "P4"),
    ("closed other", "closed", "other", "support", "P3"),
    ("escalation", "open", "other", "escalation", "P2"),
]
EXPECTED = {
    "all": {r[0] for r in ROWS},
    "mine": {"open mine", "pending mine"},
    "open": {"new unassigned", "open mine", "open other 100%_x", "escalation"},
    "waiting": {"pending mine"},
    "other_open": {"hold other", "open other 100%_x", "escalation"},
    "on_hold": {"hold other"},
    "closed": {"resolved mine", "closed other"},
}


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    with database.transaction() as s:
        me, other = Agent(email="me@x"), Agent(email="other@x")
        org = ClientOrg(name="Acme")
        s.add_all([me, other, org])
        s.flush()
        agents = {"me": me, "other": other}
        for i, (subject, status, who, kind, prio) in enumerate(ROWS):
            s.add(
                Ticket(
                    subject=subject,
                    status=status,
                    type=kind,
                    priority=prio,
                    assignee_id=agents[who].id if who else None,
                    org_id=org.id if i % 2 else None,
                    updated_at=T0 + timedelta(minutes=i),
                    created_at=T0,
                )
            )
    yield database
    database.dispose()


def _me(db: Database) -> int:
    with db.sessions() as s:
        return s.query(Agent).filter_by(email="me@x").one().id


@pytest.mark.parametrize("view", list(VIEWS))
def test_each_view_holds_the_right_tickets(db: Database, view: str) -> None:
    me = _me(db)
    with db.sessions() as s:
        got = list_view(s, view, agent_id=me, limit=100)
        assert {t.subject for t in got} == EXPECTED[view]
        assert count_view(s, view, agent_id=me) == len(EXPECTED[view])
        # most recently updated first
        assert [t.updated_at for t in got] == sorted((t.updated_at for t in got), reverse=True)


def test_filters_narrow_a_view(db: Database) -> None:
    me = _me(db)  # before the session: on SQLite every transaction holds the write lock
    with db.sessions() as s:
        assert {t.subject for t in list_view(s, "all", filters=Filters(type="question"))} == {
            "open other 100%_x"
        }
        assert count_view(s, "open", filters=Filters(priority="P2")) == 1
        # LIKE wildcards in the search text are literal
        assert [t.subject for t in list_view(s, "all", filters=Filters(text="100%_"))] == [
            "open other 100%_x"
        ]
        assert count_view(s, "all", filters=Filters(text="%")) == 1
        org_id = s.query(ClientOrg).one().id
        assert count_view(s, "all", filters=Filters(org_id=org_id)) == 4
        assert count_view(s, "all", filters=Filters(assignee_id=me)) == 3


def test_paging_and_unknown_views(db: Database) -> None:
    with db.sessions() as s:
        first = list_view(s, "all", limit=3)
        rest = list_view(s, "all", limit=100, offset=3)
        assert len(first) == 3 and len(rest) == len(ROWS) - 3
        assert not {t.id for t in first} & {t.id for t in rest}
    with pytest.raises(ValueError, match="unknown view"):
        view_query("nope")
