"""Our own mail coming back (a forwarding loop, an alias that points at us): drop it."""

from __future__ import annotations

from postdesk.inbound.classify.facts import Facts
from postdesk.inbound.classify.stage import Finding
from postdesk.inbound.header_fields import message_ids
from postdesk.threading.tokens import parse_message_id

# Headers in which relays and forwarders keep the original Message-ID when they replace it.
_ORIGINAL_ID_HEADERS = (
    "Resent-Message-ID",
    "X-Original-Message-ID",
    "X-Microsoft-Original-Message-ID",
    "X-Google-Original-Message-Id",
)


def own_message_id(facts: Facts) -> Finding | None:
    ticket = parse_message_id(facts.msg.message_id, facts.keys)
    if ticket is not None:
        return Finding(
            f"Message-ID {facts.msg.message_id} was signed by us (ticket {ticket})",
            kind="loop",
            may_auto_respond=False,
            may_open_ticket=False,
        )
    return None


def rewritten_own_message(facts: Facts) -> Finding | None:
    """X-Postdesk-Ticket survives a relay that rewrote the Message-ID; the signed id proves it."""
    if not facts.header("X-Postdesk-Ticket"):
        return None
    for name in _ORIGINAL_ID_HEADERS:
        for value in facts.msg.header_all(name):
            for mid in message_ids(value):
                if parse_message_id(mid, facts.keys) is not None:
                    return Finding(
                        f"X-Postdesk-Ticket with our signed id {mid} in {name}",
                        kind="loop",
                        may_auto_respond=False,
                        may_open_ticket=False,
                    )
    return None
