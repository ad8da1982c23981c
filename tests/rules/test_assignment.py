"""Assignment strategies: CSM, round robin (fair, durable), least open; away agents skipped;
manual assignment always wins."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from postdesk.rules.assignment import (
    choose_least_open,
    choose_round_robin,
    pick,
    pick_least_open,
    pick_round_robin,
)
from postdesk.store import changes
from postdesk.store.db import Database
from postdesk.store.models import Agent, ClientOrg, Ticket
from postdesk.store.workflow import WorkflowError

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ids", "last", "expected"),
    [
        ([], None, None),
        ([3, 1, 2], None, 1),
        ([1, 2, 3], 1, 2),
        ([1, 2, 3], 3, 1),
        ([1, 3, 5], 4, 5),
        ([1, 3], 9, 1),
    ],
)
def test_choose_round_robin(ids: list[int], last: int | None, expected: int | None) -> None:
    assert choose_round_robin(ids, last) == expected


def test_choose_least_open() -> None:
    assert choose_least_open({}) is None
    assert choose_least_open({4: 2, 2: 1, 3: 1}) == 2  # tie: lowest id
    assert choose_least_open({1: 5, 2: 0}) == 2


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    with database.transaction() as s:
        s.add_all(
            [
                Agent(email="a1@x", team="support"),
                Agent(email="a2@x", team="support"),
                Agent(email="a3@x", team="support"),
                Agent(email="away@x", team="support", away=True),
                Agent(email="gone@x", team="support", active=False),
                Agent(email="other@x", team="finance"),
            ]
        )
    yield database
    database.dispose()


def _agent(s, email: str) -> Agent:  # type: ignore[no-untyped-def]
    return s.scalars(select(Agent).where(Agent.email == email)).one()


def test_round_robin_is_fair_over_1000_tickets_and_survives_restarts(
    db: Database, database_url: str
) -> None:
    with db.transaction() as s:
        s.add_all([Ticket(subject=f"t{i}", created_at=NOW, updated_at=NOW) for i in range(1000)])
    with db.sessions() as s:
        ids = list(s.scalars(select(Ticket.id).order_by(Ticket.id)))
    got: Counter[str] = Counter()
    for batch in range(10):
        # A new Database every batch: the turn is in the table, not in a process's memory.
        database = db if batch % 2 else Database(database_url)
        with database.transaction() as s:
            for tid in ids[batch * 100 : (batch + 1) * 100]:
                ticket = s.get(Ticket, tid)
                agent = pick_round_robin(s, "support", NOW)
                assert agent is not None
                changes.assign(s, ticket, agent, actor="rule:rr", now=NOW)  # type: ignore[arg-type]
                got[agent.email] += 1
        if database is not db:
            database.dispose()
    assert set(got) == {"a1@x", "a2@x", "a3@x"}  # never the away or inactive agent
    assert all(abs(n - 1000 / 3) <= 1 for n in got.values()), got
    with db.sessions() as s:
        assigned = Counter(
            s.scalars(select(Agent.email).join(Ticket, Ticket.assignee_id == Agent.id))
        )
    assert assigned == got


def test_round_robin_skips_an_agent_who_goes_away(db: Database) -> None:
    with db.transaction() as s:
        first = pick_round_robin(s, "support", NOW)
        assert first is not None and first.email == "a1@x"
        _agent(s, "a2@x").away = True
        s.flush()
        assert pick_round_robin(s, "support", NOW).email == "a3@x"  # type: ignore[union-attr]
        assert pick_round_robin(s, "support", NOW).email == "a1@x"  # type: ignore[union-attr]
        assert pick_round_robin(s, "nobody-team", NOW) is None


def test_least_open_counts_only_active_tickets(db: Database) -> None:
    with db.transaction() as s:
        a1, a2, a3 = (_agent(s, e) for e in ("a1@x", "a2@x", "a3@x"))
        for agent, status in [
            (a1, "open"),
            (a1, "pending"),
            (a2, "open"),
            (a3, "closed"),
            (a3, "resolved"),
            (a3, "new"),
        ]:
            s.add(Ticket(subject="x", status=status, assignee_id=agent.id))
        s.flush()
        # a1: 2 active, a2: 1, a3: 1 (closed/resolved do not count) -> a2 (lower id)
        assert pick_least_open(s, "support").email == "a2@x"  # type: ignore[union-attr]
        _agent(s, "a2@x").away = True
        s.flush()
        assert pick_least_open(s, "support").email == "a3@x"  # type: ignore[union-attr]


def test_csm_strategy_skips_an_away_csm(db: Database) -> None:
    with db.transaction() as s:
        csm = _agent(s, "a2@x")
        org = ClientOrg(name="Acme", csm_agent_id=csm.id)
        s.add(org)
        s.flush()
        ticket = Ticket(subject="x", org_id=org.id)
        s.add(ticket)
        s.flush()
        s.refresh(ticket)
        assert pick(s, ticket, "csm", team=None, now=NOW) is csm
        csm.away = True
        assert pick(s, ticket, "csm", team=None, now=NOW) is None


def test_manual_assignment_always_wins(db: Database) -> None:
    with db.transaction() as s:
        ticket = Ticket(subject="x")
        s.add(ticket)
        s.flush()
        a1, a3 = _agent(s, "a1@x"), _agent(s, "a3@x")
        changes.assign(s, ticket, a1, actor="rule:rr", now=NOW)
        # a rule may replace a rule's assignment...
        changes.assign(s, ticket, a3, actor="rule:other", now=NOW)
        # ...a person may replace anything...
        changes.assign(s, ticket, a1, actor="boss@x", now=NOW)
        assert ticket.assigned_by == "boss@x"
        # ...and then no rule replaces the person's choice
        with pytest.raises(WorkflowError, match="by hand"):
            changes.assign(s, ticket, a3, actor="rule:rr", now=NOW)
        assert ticket.assignee_id == a1.id


def test_round_robin_takes_turns_across_concurrent_writers(db: Database, database_url: str) -> None:
    """Four writers with their own engines (as processes would have) share one turn."""
    import threading

    got: Counter[str] = Counter()
    errors: list[BaseException] = []
    lock = threading.Lock()

    def writer() -> None:
        database = Database(database_url)
        try:
            for _ in range(30):
                with database.transaction() as s:
                    agent = pick_round_robin(s, "support", NOW)
                    assert agent is not None
                    email = agent.email
                with lock:
                    got[email] += 1
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            database.dispose()

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    # 120 turns over 3 agents: exactly 40 each, whichever writer took which turn
    assert got == Counter({"a1@x": 40, "a2@x": 40, "a3@x": 40})
