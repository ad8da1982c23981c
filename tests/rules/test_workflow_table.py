"""Every status transition (allowed and refused) for each type, and every type change."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from postdesk.store.audit_log import _PENDING
from postdesk.store.changes import set_status, set_type
from postdesk.store.enums import Status, TicketType
from postdesk.store.models import Ticket
from postdesk.store.workflow import (
    TRANSITIONS,
    WorkflowError,
    parse_status,
    status_label,
    status_refusal,
    type_refusal,
)

S, T = Status, TicketType
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

# The workflow written out by hand, independently of TRANSITIONS: (type, from) -> allowed targets.
_SUPPORT = {
    S.NEW: {S.OPEN, S.PENDING, S.ON_HOLD, S.RESOLVED, S.CLOSED},
    S.OPEN: {S.PENDING, S.ON_HOLD, S.RESOLVED, S.CLOSED},
    S.PENDING: {S.OPEN, S.ON_HOLD, S.RESOLVED, S.CLOSED},
    S.ON_HOLD: {S.OPEN, S.PENDING, S.RESOLVED, S.CLOSED},
    S.RESOLVED: {S.OPEN, S.CLOSED},
    S.CLOSED: set(),
}
EXPECTED: dict[TicketType, dict[Status, set[Status]]] = {
    T.SUPPORT: _SUPPORT,
    T.CONVERSATION: _SUPPORT,
    T.QUESTION: {
        S.NEW: {S.OPEN, S.RESOLVED, S.CLOSED},
        S.OPEN: {S.RESOLVED, S.CLOSED},
        S.RESOLVED: {S.OPEN, S.CLOSED},
        S.CLOSED: set(),
    },
    T.ESCALATION: {
        S.NEW: {S.OPEN, S.ON_HOLD, S.RESOLVED, S.CLOSED},
        S.OPEN: {S.ON_HOLD, S.RESOLVED, S.CLOSED},
        S.ON_HOLD: {S.OPEN, S.RESOLVED, S.CLOSED},
        S.RESOLVED: {S.OPEN, S.CLOSED},
        S.CLOSED: set(),
    },
}
CASES = [
    (kind, cur, new, new in EXPECTED[kind].get(cur, set()) or cur == new)
    for kind in T
    for cur, new in itertools.product(S, S)
    if cur in EXPECTED[kind]
]


def _ticket(kind: TicketType, status: Status) -> Ticket:
    return Ticket(id=1, type=kind, status=status, priority="P3", tags=[], fields={})


class _Session:
    """Collects the audit entries ``changes`` writes, without a database."""

    def __init__(self) -> None:
        self.info: dict[str, Any] = {}

    def get_transaction(self) -> object:
        return self  # audit() begins one when there is none

    @property
    def added(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(**row) for row in self.info.get(_PENDING, [])]


@pytest.mark.parametrize(("kind", "cur", "new", "allowed"), CASES)
def test_status_transition(kind: TicketType, cur: Status, new: Status, allowed: bool) -> None:
    refusal = status_refusal(kind, cur, new)
    assert (refusal is None) == allowed, refusal
    ticket, session = _ticket(kind, cur), _Session()
    if allowed:
        change = set_status(session, ticket, new, actor="a@x", now=NOW)  # type: ignore[arg-type]
        assert ticket.status == new
        if cur == new:
            assert change is None and session.added == []
        else:
            assert change is not None and (change.old, change.new) == (cur, new)
            [entry] = session.added
            assert (entry.actor, entry.old_value, entry.new_value) == ("a@x", cur, new)  # type: ignore[attr-defined]
            assert ticket.status_changed_at == NOW
    else:
        with pytest.raises(WorkflowError) as err:
            set_status(session, ticket, new, actor="a@x", now=NOW)  # type: ignore[arg-type]
        assert str(err.value) == refusal
        assert ticket.status == cur and session.added == []


def test_the_table_covers_every_type_and_matches_the_module() -> None:
    assert set(EXPECTED) == set(TRANSITIONS)
    for kind, table in EXPECTED.items():
        assert {k: set(v) for k, v in TRANSITIONS[kind].items()} == table


@pytest.mark.parametrize("kind", [T.QUESTION, T.ESCALATION])
def test_statuses_a_type_does_not_have_are_refused_with_a_reason(kind: TicketType) -> None:
    missing = set(S) - set(EXPECTED[kind])
    assert missing  # questions never wait or sit on hold; escalations never wait on a client
    for status in missing:
        assert "has no status" in (status_refusal(kind, S.NEW, status) or "")


def test_questions_call_open_accepted() -> None:
    assert status_label(T.QUESTION, S.OPEN) == "accepted"
    assert status_label(T.SUPPORT, S.OPEN) == "open"
    assert parse_status("Accepted") == S.OPEN
    assert "'accepted'" in (status_refusal(T.QUESTION, S.OPEN, S.NEW) or "")


TYPE_EXPECTED = {
    T.SUPPORT: {T.QUESTION},
    T.QUESTION: {T.SUPPORT},
    T.CONVERSATION: {T.SUPPORT, T.QUESTION},
    T.ESCALATION: set(),
}
TYPE_CASES = [
    (cur, new, status) for cur, new in itertools.product(T, T) for status in EXPECTED[cur]
]


@pytest.mark.parametrize(("cur", "new", "status"), TYPE_CASES)
def test_type_change(cur: TicketType, new: TicketType, status: Status) -> None:
    allowed = cur == new or (new in TYPE_EXPECTED[cur] and status in EXPECTED[new])
    refusal = type_refusal(cur, new, status)
    assert (refusal is None) == allowed, refusal
    ticket, session = _ticket(cur, status), _Session()
    if allowed:
        change = set_type(session, ticket, new, actor="a@x", now=NOW)  # type: ignore[arg-type]
        assert ticket.type == new and (change is None) == (cur == new)
    else:
        with pytest.raises(WorkflowError):
            set_type(session, ticket, new, actor="a@x", now=NOW)  # type: ignore[arg-type]
        assert ticket.type == cur and session.added == []
        if new == T.ESCALATION:
            assert "escalate" in (refusal or "")


def test_resolving_and_reopening_keep_the_timestamps_right() -> None:
    ticket, session = _ticket(T.SUPPORT, S.OPEN), _Session()
    set_status(session, ticket, "resolved", actor="a@x", now=NOW)  # type: ignore[arg-type]
    assert ticket.resolved_at == NOW
    set_status(session, ticket, "open", actor="ana@c", now=NOW)  # type: ignore[arg-type]
    assert ticket.resolved_at is None
    set_status(session, ticket, "closed", actor="a@x", now=NOW)  # type: ignore[arg-type]
    assert ticket.closed_at == NOW and ticket.resolved_at == NOW
