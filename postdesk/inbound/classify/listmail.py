"""Mailing-list traffic: it may open a ticket (a customer may write to us via a list we are
on), but an automatic answer would go to every subscriber, so never auto-respond."""

from __future__ import annotations

from postdesk.inbound.classify.facts import Facts
from postdesk.inbound.classify.stage import Finding

_LIST_HEADERS = ("List-Id", "List-Post", "List-Unsubscribe", "Mailing-List", "X-Mailing-List")


def list_headers(facts: Facts) -> Finding | None:
    present = [name for name in _LIST_HEADERS if facts.header(name)]
    list_precedence = facts.header("Precedence").lower() == "list"
    if list_precedence:
        present.append("Precedence: list")
    # List-Unsubscribe alone is set by every newsletter and many transactional senders.
    if present and (list_precedence or set(present) - {"List-Unsubscribe"}):
        return Finding(
            "list mail (" + ", ".join(present) + ")",
            kind="list",
            may_auto_respond=False,
            may_open_ticket=True,
        )
    if present:
        return Finding("List-Unsubscribe (bulk sender)", may_auto_respond=False)
    return None
