"""The sender's role in threading: staff mail never reopens nor forks a ticket; for anyone
else our note and agent addresses are plain reply addresses."""

from __future__ import annotations

import pytest

from postdesk.threading.decide import ThreadInput, decide
from tests.threading.test_decide_table import (
    ACK,
    AGENT,
    DORA,
    KEYS,
    LOOKUP,
    NOW,
    SUPPORT,
    WINDOW,
    ra,
)

CASES = [
    # (name, staff, to, in_reply_to, expected (action, ticket, linked, purpose))
    (
        "agent answers a resolved ticket's ack",
        True,
        (SUPPORT,),
        (ACK[103],),
        ("attach", 103, None, "reply"),
    ),
    (
        "agent answers a closed ticket's ack",
        True,
        (SUPPORT,),
        (ACK[105],),
        ("attach", 105, None, "reply"),
    ),
    (
        "agent via the agent address on a closed ticket",
        True,
        (ra(105, purpose="agent"),),
        (),
        ("attach", 105, None, "agent"),
    ),
    ("agent with no reference opens a ticket", True, (SUPPORT,), (), ("new", None, None, "reply")),
    (
        "client to the note address of an open ticket",
        False,
        (ra(101, purpose="note"),),
        (),
        ("attach", 101, None, "reply"),
    ),
    (
        "client to the note address of a resolved ticket reopens",
        False,
        (ra(103, purpose="note"),),
        (),
        ("reopen", 103, None, "reply"),
    ),
    (
        "client to the agent address of a closed ticket forks",
        False,
        (ra(105, purpose="agent"),),
        (),
        ("new_linked", None, 105, "reply"),
    ),
    (
        "unchecked sender: the address decides",
        None,
        (ra(103, purpose="note"),),
        (),
        ("attach", 103, None, "note"),
    ),
    (
        "client reply reopens as before",
        False,
        (SUPPORT,),
        (ACK[103],),
        ("reopen", 103, None, "reply"),
    ),
]


@pytest.mark.parametrize(
    ("staff", "to", "irt", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_decide_by_sender_role(staff: bool | None, to: tuple, irt: tuple, expected: tuple) -> None:
    sender = AGENT if staff else DORA
    msg = ThreadInput(
        sender, tuple(t.lower() for t in to), tuple(m.lower() for m in irt), (), "Re: x"
    )
    d = decide(msg, LOOKUP, KEYS, NOW, WINDOW, staff=staff)
    assert (d.action, d.ticket_id, d.linked_ticket_id, d.purpose) == expected, d.reason
    assert d.reason
