"""The ticket workflow as data: which status and type changes are allowed, and why not.

Pure functions over the enums, so every caller (mail commands, rules, the admin, the
scheduler) is refused for the same reasons. ``postdesk.store.changes`` applies the
changes with their audit entries.

- Support: the full cycle; a resolved ticket can be reopened (the client answers inside the
  reopen window), a closed one cannot — the next mail opens a new ticket linked to it.
- Question: the short flow New -> Accepted -> Resolved (-> Closed). "Accepted" is stored as
  ``open`` and labelled for questions; a question never waits on the client or sits on hold.
- Escalation: internal only, so it never waits on a client (no Pending).
- Conversation: started by staff; it may wait on the client like a support ticket.
"""

from __future__ import annotations

from postdesk.store.enums import Priority, Status, TicketType

S = Status
_SUPPORT: dict[Status, frozenset[Status]] = {
    S.NEW: frozenset({S.OPEN, S.PENDING, S.ON_HOLD, S.RESOLVED, S.CLOSED}),
    S.OPEN: frozenset({S.PENDING, S.ON_HOLD, S.RESOLVED, S.CLOSED}),
    S.PENDING: frozenset({S.OPEN, S.ON_HOLD, S.RESOLVED, S.CLOSED}),
    S.ON_HOLD: frozenset({S.OPEN, S.PENDING, S.RESOLVED, S.CLOSED}),
    S.RESOLVED: frozenset({S.OPEN, S.CLOSED}),
    S.CLOSED: frozenset(),
}
_QUESTION: dict[Status, frozenset[Status]] = {
    S.NEW: frozenset({S.OPEN, S.RESOLVED, S.CLOSED}),
    S.OPEN: frozenset({S.RESOLVED, S.CLOSED}),
    S.RESOLVED: frozenset({S.OPEN, S.CLOSED}),
    S.CLOSED: frozenset(),
}
_ESCALATION: dict[Status, frozenset[Status]] = {
    S.NEW: frozenset({S.OPEN, S.ON_HOLD, S.RESOLVED, S.CLOSED}),
    S.OPEN: frozenset({S.ON_HOLD, S.RESOLVED, S.CLOSED}),
    S.ON_HOLD: frozenset({S.OPEN, S.RESOLVED, S.CLOSED}),
    S.RESOLVED: frozenset({S.OPEN, S.CLOSED}),
    S.CLOSED: frozenset(),
}
TRANSITIONS: dict[TicketType, dict[Status, frozenset[Status]]] = {
    TicketType.SUPPORT: _SUPPORT,
    TicketType.QUESTION: _QUESTION,
    TicketType.ESCALATION: _ESCALATION,
    TicketType.CONVERSATION: _SUPPORT,
}
# Types a ticket may be changed to. Escalations are opened beside a ticket (their own
# internal thread), never by retyping a client's ticket, which would hide it from the client.
TYPE_CHANGES: dict[TicketType, frozenset[TicketType]] = {
    TicketType.SUPPORT: frozenset({TicketType.QUESTION}),
    TicketType.QUESTION: frozenset({TicketType.SUPPORT}),
    TicketType.CONVERSATION: frozenset({TicketType.SUPPORT, TicketType.QUESTION}),
    TicketType.ESCALATION: frozenset(),
}
ESCALATION_TYPES = ("scope creep", "delivery delay", "quality issue", "service complaint")
# Statuses in which a ticket still needs someone's attention.
ACTIVE = frozenset({S.NEW, S.OPEN, S.PENDING, S.ON_HOLD})
WAITING_FOR_AGENT = frozenset({S.NEW, S.OPEN})
DONE = frozenset({S.RESOLVED, S.CLOSED})


class WorkflowError(ValueError):
    """A change the workflow refuses; the message says why, for a mail reply or a form."""


def parse_status(value: str) -> Status:
    v = value.strip().lower().replace("_", "-").replace(" ", "-")
    if v in ("onhold", "hold"):
        v = "on-hold"
    if v == "accepted":
        v = "open"
    try:
        return Status(v)
    except ValueError:
        allowed = ", ".join(s.value for s in Status)
        raise WorkflowError(f"unknown status {value!r} (one of: {allowed})") from None


def parse_priority(value: str) -> Priority:
    v = value.strip().upper()
    if v in ("1", "2", "3", "4"):
        v = "P" + v
    try:
        return Priority(v)
    except ValueError:
        raise WorkflowError(f"unknown priority {value!r} (P1, P2, P3 or P4)") from None


def parse_type(value: str) -> TicketType:
    try:
        return TicketType(value.strip().lower())
    except ValueError:
        allowed = ", ".join(t.value for t in TicketType)
        raise WorkflowError(f"unknown type {value!r} (one of: {allowed})") from None


def status_refusal(ticket_type: str, current: str, target: str) -> str | None:
    """Why ``current -> target`` is not allowed for this type, or None when it is."""
    kind, cur, new = TicketType(ticket_type), Status(current), Status(target)
    table = TRANSITIONS[kind]
    if new not in table:
        return f"a {kind.value} ticket has no status {status_label(kind, new)!r}"
    if cur == new:
        return None
    if new in table.get(cur, frozenset()):
        return None
    if cur == S.CLOSED:
        return "a closed ticket cannot change; the client's next mail opens a new ticket"
    return (
        f"a {kind.value} ticket cannot go from {status_label(kind, cur)!r} "
        f"to {status_label(kind, new)!r}"
    )


def type_refusal(current: str, target: str, status: str) -> str | None:
    cur, new = TicketType(current), TicketType(target)
    if cur == new:
        return None
    if new in TYPE_CHANGES[cur]:
        if Status(status) not in TRANSITIONS[new]:
            return f"a {new.value} ticket cannot be {status_label(cur, status)!r}"
        return None
    if new == TicketType.ESCALATION:
        return "escalate the ticket instead: an escalation is an internal ticket beside it"
    return f"a {cur.value} ticket cannot become a {new.value} ticket"


def status_label(ticket_type: str, status: str) -> str:
    """The name staff see: questions call ``open`` Accepted."""
    if ticket_type == TicketType.QUESTION and status == S.OPEN:
        return "accepted"
    return str(status)
