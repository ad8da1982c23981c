"""All seven view counts in one grouped query: the same numbers as counting each view alone."""

from __future__ import annotations

import pytest

from postdesk.store.db import Database
from postdesk.store.models import Agent, ClientOrg
from postdesk.store.views import VIEWS, Filters, count_view, counts_from_groups, view_counts
from tests.store.test_views import EXPECTED, db  # noqa: F401 - the fixture

FILTERS = [
    Filters(),
    Filters(type="question"),
    Filters(priority="P2"),
    Filters(text="100%_"),
    Filters(text="o"),
]


def test_grouped_counts_are_each_views_count(db: Database) -> None:  # noqa: F811
    with db.sessions() as s:
        me = s.query(Agent).filter_by(email="me@x").one().id
        other = s.query(Agent).filter_by(email="other@x").one().id
        org = s.query(ClientOrg).one().id
        assert view_counts(s, agent_id=me) == {v: len(EXPECTED[v]) for v in VIEWS}
        for agent in (me, other):
            for f in [*FILTERS, Filters(org_id=org), Filters(assignee_id=agent)]:
                expected = {v: count_view(s, v, agent_id=agent, filters=f) for v in VIEWS}
                assert view_counts(s, agent_id=agent, filters=f) == expected, (agent, f)


def test_counts_from_groups_applies_each_views_conditions() -> None:
    groups = [
        ("new", "none", 3),
        ("open", "me", 2),
        ("pending", "me", 5),
        ("pending", "other", 1),
        ("on-hold", "other", 7),
        ("resolved", "me", 11),
        ("closed", "none", 13),
    ]
    assert counts_from_groups(groups) == {
        "all": 42,
        "mine": 7,
        "open": 5,
        "waiting": 6,
        "other_open": 8,
        "on_hold": 7,
        "closed": 24,
    }
    assert counts_from_groups([]) == dict.fromkeys(VIEWS, 0)


@pytest.mark.parametrize("view", ["open", "closed", "all"])
def test_an_empty_store_counts_zero(database_url: str, view: str) -> None:
    database = Database(database_url)
    try:
        with database.sessions() as s:
            assert view_counts(s, agent_id=1)[view] == 0 == count_view(s, view, agent_id=1)
    finally:
        database.dispose()
