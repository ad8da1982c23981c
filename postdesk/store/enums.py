"""The values the store's string columns take. The workflow decides which transitions are valid."""

from enum import StrEnum


class Status(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"  # waiting on the client
    ON_HOLD = "on-hold"
    RESOLVED = "resolved"
    CLOSED = "closed"


class TicketType(StrEnum):
    SUPPORT = "support"
    QUESTION = "question"
    ESCALATION = "escalation"
    CONVERSATION = "conversation"


class Priority(StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


class InboxState(StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    FAILED = "failed"
    DUPLICATE = "duplicate"
    QUARANTINED = "quarantined"  # kept with its reason, not retried (e.g. over the size limit)


class OutboxState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
