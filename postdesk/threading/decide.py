"""The threading decision: headers and a lookup in, a ticket (or a new one) and its reason out.

Order of evidence, strongest first:
1. a signed reply address of ours among the recipients (survives rewritten headers);
2. In-Reply-To, then References newest first, against every Message-ID we know;
3. a subject tag ``[#N]`` — only when the sender already takes part in ticket N, so a
   stranger cannot attach mail to someone else's ticket by guessing a number;
4. otherwise a new ticket.
A match on a resolved ticket reopens it inside the reopen window; a closed ticket, or a
resolved one past the window, gets a new ticket linked to the old one. Mail to a ticket's
note or agent address comes from staff who chose that ticket: it always attaches, because an
internal note must not reopen a ticket for the client nor open one with an agent as requester.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from postdesk.threading.subject import find_tags
from postdesk.threading.tokens import Purpose, parse_reply_address

Action = Literal["attach", "reopen", "new", "new_linked"]
Via = Literal["reply_address", "in_reply_to", "references", "subject_tag", "none"]


@dataclass(frozen=True, slots=True)
class TicketRef:
    """What threading needs to know about a stored ticket."""

    id: int
    status: str
    resolved_at: datetime | None = None
    participants: frozenset[str] = frozenset()  # lowercased addresses: requester, CCs, staff


class ThreadLookup(Protocol):
    def by_message_id(self, message_id: str) -> TicketRef | None:
        """The ticket holding a message (inbound or ours) with this Message-ID."""
        ...

    def by_number(self, number: int) -> TicketRef | None: ...


@dataclass(frozen=True, slots=True)
class ThreadInput:
    sender: str  # From address, lowercased
    recipients: tuple[str, ...]  # To, Cc and envelope recipients, lowercased
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str


@dataclass(frozen=True, slots=True)
class ThreadDecision:
    action: Action
    ticket_id: int | None  # the ticket to attach to / reopen; None for a new ticket
    via: Via
    reason: str
    linked_ticket_id: int | None = None  # for new_linked: the earlier ticket
    purpose: Purpose = "reply"  # which of our addresses it was sent to

    @property
    def is_new(self) -> bool:
        return self.action in ("new", "new_linked")


def surely_new(msg: ThreadInput, keys: Sequence[bytes]) -> bool:
    """Whether ``decide`` answers "new" for ``msg`` whatever the store holds: nothing in it
    (signed reply address, In-Reply-To, References, subject tag) names an earlier message
    or ticket, so it looks nothing up."""
    return (
        not msg.in_reply_to
        and not msg.references
        and not find_tags(msg.subject)
        and all(parse_reply_address(r, keys) is None for r in msg.recipients)
    )


def decide(
    msg: ThreadInput,
    lookup: ThreadLookup,
    keys: Sequence[bytes],
    now: datetime,
    reopen_window: timedelta,
    staff: bool | None = None,
) -> ThreadDecision:
    """``staff``: True for a verified agent (any match attaches: staff mail never reopens a
    ticket nor opens a linked one), False for anyone else (a note or agent address counts as
    the plain reply address), None when the sender was not checked (the address decides)."""
    decision = _decide(msg, lookup, keys, now, reopen_window, staff)
    if staff and decision.ticket_id is None and decision.linked_ticket_id is not None:
        return ThreadDecision(
            "attach",
            decision.linked_ticket_id,
            decision.via,
            f"{decision.reason}; staff mail attaches",
            purpose=decision.purpose,
        )
    if staff and decision.action == "reopen":
        return ThreadDecision(
            "attach",
            decision.ticket_id,
            decision.via,
            f"{decision.reason.rsplit('; reopens', 1)[0]}; staff mail does not reopen",
            purpose=decision.purpose,
        )
    return decision


def _decide(
    msg: ThreadInput,
    lookup: ThreadLookup,
    keys: Sequence[bytes],
    now: datetime,
    reopen_window: timedelta,
    staff: bool | None,
) -> ThreadDecision:
    # 1. signed reply address
    for rcpt in msg.recipients:
        token = parse_reply_address(rcpt, keys)
        if token is None:
            continue
        ticket = lookup.by_number(token.ticket)
        if ticket is not None:
            return _matched(
                ticket,
                "reply_address",
                f"sent to reply address {rcpt}",
                now,
                reopen_window,
                "reply" if staff is False else token.purpose,
            )
    # 2. In-Reply-To, then References newest first
    newest_first = tuple(reversed(msg.references))
    for via, ids in (("in_reply_to", msg.in_reply_to), ("references", newest_first)):
        for mid in ids:
            ticket = lookup.by_message_id(mid)
            if ticket is not None:
                header = "In-Reply-To" if via == "in_reply_to" else "References"
                return _matched(ticket, via, f"{header} <{mid}>", now, reopen_window)  # type: ignore[arg-type]
    # 3. subject tag from a participant
    refused: list[str] = []
    for number in find_tags(msg.subject):
        ticket = lookup.by_number(number)
        if ticket is None:
            refused.append(f"[#{number}] names no ticket")
        elif msg.sender in ticket.participants:
            return _matched(
                ticket,
                "subject_tag",
                f"subject tag [#{number}] from a participant",
                now,
                reopen_window,
            )
        else:
            refused.append(f"[#{number}] ignored: {msg.sender} is not a participant")
    reason = "no reference to a known ticket"
    if refused:
        reason += "; " + "; ".join(refused)
    return ThreadDecision("new", None, "none", reason)


def _matched(
    ticket: TicketRef,
    via: Via,
    evidence: str,
    now: datetime,
    window: timedelta,
    purpose: Purpose = "reply",
) -> ThreadDecision:
    if purpose != "reply":
        return ThreadDecision(
            "attach", ticket.id, via, f"{evidence}; {purpose} address (staff)", purpose=purpose
        )
    if ticket.status == "closed":
        return ThreadDecision(
            "new_linked",
            None,
            via,
            f"{evidence}; ticket #{ticket.id} is closed",
            linked_ticket_id=ticket.id,
            purpose=purpose,
        )
    if ticket.status == "resolved":
        if ticket.resolved_at is not None and _utc(now) - _utc(ticket.resolved_at) > window:
            return ThreadDecision(
                "new_linked",
                None,
                via,
                f"{evidence}; ticket #{ticket.id} resolved more than {window.days} days ago",
                linked_ticket_id=ticket.id,
                purpose=purpose,
            )
        return ThreadDecision(
            "reopen",
            ticket.id,
            via,
            f"{evidence}; reopens resolved ticket #{ticket.id}",
            purpose=purpose,
        )
    return ThreadDecision("attach", ticket.id, via, evidence, purpose=purpose)


def _utc(moment: datetime) -> datetime:
    # SQLite hands DateTime(timezone=True) columns back naive; the store writes them in UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
