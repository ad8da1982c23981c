"""The threading decision as a table: one small world of tickets, many incoming mails.

The world is served by ``FakeLookup``, a dict-backed implementation of the ``ThreadLookup``
port — the seam the design means to be faked, so no database is involved.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postdesk.threading.decide import ThreadDecision, ThreadInput, TicketRef, decide, surely_new
from postdesk.threading.tokens import Purpose, make_message_id, reply_address

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
WINDOW = timedelta(days=14)
SUPPORT = "support@ourdesk.example"
KEY = b"current signing key"
OLD_KEY = b"previous key, still in its grace period"
RETIRED_KEY = b"key dropped from the settings"
FOREIGN_KEY = b"another postdesk installation"
KEYS = (KEY, OLD_KEY)

ALICE = "alice@client.example"  # requester of 101
CAROL = "carol@client.example"  # CC participant of 101
AGENT = "agent@ourdesk.example"  # staff on 101
BOB = "bob@client.example"
DORA = "dora@client.example"
ERIN = "erin@client.example"
FRANK = "frank@client.example"
GINA = "gina@other.example"
MALLORY = "mallory@stranger.example"


class FakeLookup:
    """``ThreadLookup`` over two dicts, normalising Message-IDs the way the SQL lookup does."""

    def __init__(self, tickets: Iterable[TicketRef], messages: dict[str, int]) -> None:
        self.tickets = {t.id: t for t in tickets}
        self.messages = {_norm(mid): tid for mid, tid in messages.items()}

    def by_message_id(self, message_id: str) -> TicketRef | None:
        ticket_id = self.messages.get(_norm(message_id))
        return self.tickets.get(ticket_id) if ticket_id is not None else None

    def by_number(self, number: int) -> TicketRef | None:
        return self.tickets.get(number)


def _norm(message_id: str) -> str:
    return message_id.strip().strip("<>").lower()


def _ticket(
    id_: int, status: str, *people: str, resolved_days: float | None = None, naive: bool = False
) -> TicketRef:
    resolved_at = None if resolved_days is None else NOW - timedelta(days=resolved_days)
    if resolved_at is not None and naive:  # as SQLite hands it back
        resolved_at = resolved_at.replace(tzinfo=None)
    return TicketRef(id_, status, resolved_at, frozenset(people))


TICKETS = [
    _ticket(101, "open", ALICE, CAROL, AGENT),
    _ticket(102, "pending", BOB),
    _ticket(103, "resolved", DORA, resolved_days=3),
    _ticket(104, "resolved", ERIN, resolved_days=30),
    _ticket(105, "closed", FRANK, resolved_days=5),
    _ticket(106, "open", GINA, ALICE),
    _ticket(107, "resolved", DORA, resolved_days=14),  # exactly at the window's edge
    _ticket(108, "resolved", DORA, resolved_days=14 + 1 / 1440),  # one minute past it
    _ticket(109, "resolved", DORA, resolved_days=2, naive=True),
    _ticket(110, "resolved", DORA, resolved_days=20, naive=True),
    _ticket(111, "resolved", DORA),  # resolved, time unknown
    _ticket(112, "new", BOB),
    _ticket(113, "on-hold", BOB),
]

# Our outgoing Message-IDs (acknowledgements, replies) and clients' inbound ones.
ACK = {t.id: make_message_id("ourdesk.example", t.id, KEY) for t in TICKETS}
ALICE_FIRST = "CAFE01.4711@mail.client.example"  # Alice's own mail that opened 101
DORA_FIRST = "AM6PR01MB1234.eurprd01.prod.outlook.com"
UNKNOWN = "never-seen@elsewhere.example"
LOOKUP = FakeLookup(
    TICKETS, {**{mid: tid for tid, mid in ACK.items()}, ALICE_FIRST: 101, DORA_FIRST: 103}
)


def ra(ticket: int, key: bytes = KEY, purpose: Purpose = "reply") -> str:
    return reply_address(SUPPORT, ticket, key, purpose)


def _tampered(address: str) -> str:
    """The same reply address with the signature's first character changed."""
    local, _, domain = address.partition("@")
    head, _, sig = local.rpartition("-")
    sig = ("b" if sig[0] == "a" else "a") + sig[1:]
    return f"{head}-{sig}@{domain}"


def _renumbered(address: str, old: int, new: int) -> str:
    return address.replace(f"+{old}-", f"+{new}-")


@dataclass(frozen=True)
class Case:
    name: str
    sender: str
    action: str
    ticket: int | None
    via: str
    to: tuple[str, ...] = (SUPPORT,)
    irt: tuple[str, ...] = ()
    refs: tuple[str, ...] = ()
    subject: str = "Printer on floor 3"
    linked: int | None = None
    purpose: str = "reply"
    reason_has: tuple[str, ...] = field(default=())


C = Case
CASES = [
    # --- In-Reply-To and References ---
    C(
        "reply to our ack by In-Reply-To",
        ALICE,
        "attach",
        101,
        "in_reply_to",
        irt=(ACK[101],),
        refs=(ALICE_FIRST, ACK[101]),
        subject="Re: [#101] Printer",
    ),
    C(
        "In-Reply-To in brackets and upper case",
        ALICE,
        "attach",
        101,
        "in_reply_to",
        irt=(f"<{ACK[101].upper()}>",),
    ),
    C(
        "In-Reply-To to the client's own earlier mail",
        ALICE,
        "attach",
        101,
        "in_reply_to",
        irt=(ALICE_FIRST,),
        subject="one more detail",
    ),
    C(
        "only References, newest wins",
        GINA,
        "attach",
        106,
        "references",
        refs=(ALICE_FIRST, ACK[106]),
        subject="status?",
    ),
    C(
        "only References, unknown id newest",
        ALICE,
        "attach",
        101,
        "references",
        refs=(ALICE_FIRST, ACK[101], UNKNOWN),
        reason_has=(ACK[101],),
    ),
    C(
        "unknown In-Reply-To, known References",
        ALICE,
        "attach",
        101,
        "references",
        irt=(UNKNOWN,),
        refs=(ACK[101], UNKNOWN),
    ),
    C(
        "In-Reply-To beats References",
        ALICE,
        "attach",
        106,
        "in_reply_to",
        irt=(ACK[106],),
        refs=(ACK[101],),
    ),
    C(
        "all ids unknown, no tag",
        ALICE,
        "new",
        None,
        "none",
        irt=(UNKNOWN,),
        refs=("a@x.example", UNKNOWN),
    ),
    C(
        "reply-all from a CC participant by In-Reply-To",
        CAROL,
        "attach",
        101,
        "in_reply_to",
        to=(ALICE, SUPPORT),
        irt=(ACK[101],),
    ),
    C("reply to a pending ticket", BOB, "attach", 102, "in_reply_to", irt=(ACK[102],)),
    C("reply to a new ticket", BOB, "attach", 112, "in_reply_to", irt=(ACK[112],)),
    C("reply to an on-hold ticket", BOB, "attach", 113, "in_reply_to", irt=(ACK[113],)),
    # --- signed reply address ---
    C(
        "headers stripped, reply address intact",
        ALICE,
        "attach",
        101,
        "reply_address",
        to=(ra(101),),
        subject="Printer",
    ),
    C(
        "headers rewritten by the provider",
        BOB,
        "attach",
        102,
        "reply_address",
        to=(ra(102),),
        irt=("rewritten.1@provider.example",),
        refs=("rewritten.0@provider.example",),
    ),
    C(
        "reply address upper-cased by the provider",
        ALICE,
        "attach",
        101,
        "reply_address",
        to=(ra(101).upper(),),
    ),
    C(
        "reply address signed with the previous key",
        ALICE,
        "attach",
        101,
        "reply_address",
        to=(ra(101, OLD_KEY),),
    ),
    C("reply address with a bad signature", ALICE, "new", None, "none", to=(_tampered(ra(101)),)),
    C(
        "bad signature falls back to In-Reply-To",
        ALICE,
        "attach",
        101,
        "in_reply_to",
        to=(_tampered(ra(101)),),
        irt=(ACK[101],),
    ),
    C(
        "reply address from another installation",
        ALICE,
        "new",
        None,
        "none",
        to=(ra(101, FOREIGN_KEY),),
    ),
    C(
        "retired key falls back to the participant's tag",
        ALICE,
        "attach",
        101,
        "subject_tag",
        to=(ra(101, RETIRED_KEY),),
        subject="Re: [#101] Printer",
    ),
    C(
        "ticket number changed under a valid signature",
        MALLORY,
        "new",
        None,
        "none",
        to=(_renumbered(ra(101), 101, 102),),
    ),
    C(
        "reply address for a ticket that does not exist",
        ALICE,
        "new",
        None,
        "none",
        to=(ra(99999),),
    ),
    C(
        "reply-all from a CC participant with the reply address",
        CAROL,
        "attach",
        101,
        "reply_address",
        to=(ALICE, ra(101)),
        subject="RE: AW: [#101] Printer",
    ),
    C(
        "reply address among several recipients",
        ALICE,
        "attach",
        101,
        "reply_address",
        to=(SUPPORT, "someone@client.example", ra(101)),
    ),
    C(
        "reply address (A) beats In-Reply-To (B)",
        ALICE,
        "attach",
        101,
        "reply_address",
        to=(ra(101),),
        irt=(ACK[106],),
        refs=(ACK[106],),
    ),
    C(
        "reply address (A) beats a subject tag (B)",
        ALICE,
        "attach",
        106,
        "reply_address",
        to=(ra(106),),
        subject="Re: [#101] Printer",
    ),
    # --- note and agent addresses ---
    C(
        "note address",
        AGENT,
        "attach",
        101,
        "reply_address",
        to=(ra(101, purpose="note"),),
        purpose="note",
    ),
    C(
        "agent address",
        AGENT,
        "attach",
        101,
        "reply_address",
        to=(ra(101, purpose="agent"),),
        purpose="agent",
    ),
    C(
        "note on a resolved ticket does not reopen it",
        AGENT,
        "attach",
        103,
        "reply_address",
        to=(ra(103, purpose="note"),),
        purpose="note",
    ),
    C(
        "agent reply on a closed ticket attaches to it",
        AGENT,
        "attach",
        105,
        "reply_address",
        to=(ra(105, purpose="agent"),),
        purpose="agent",
    ),
    C(
        "note address upper-cased and signed with the previous key",
        AGENT,
        "attach",
        101,
        "reply_address",
        to=(ra(101, OLD_KEY, "note").upper(),),
        purpose="note",
    ),
    C(
        "reply signature with a -note suffix added",
        ALICE,
        "new",
        None,
        "none",
        to=(ra(101).replace("@", "-note@"),),
    ),
    C(
        "note signature with its suffix removed",
        ALICE,
        "new",
        None,
        "none",
        to=(ra(101, purpose="note").replace("-note@", "@"),),
    ),
    # --- subject tags ---
    C(
        "participant's mail with only the subject tag",
        ALICE,
        "attach",
        101,
        "subject_tag",
        subject="[#101] one more thing",
    ),
    C("tag after Re: AW:", ALICE, "attach", 101, "subject_tag", subject="Re: AW: [#101] Printer"),
    C("tag at the end", ALICE, "attach", 101, "subject_tag", subject="Printer again [#101]"),
    C("staff participant's tag", AGENT, "attach", 101, "subject_tag", subject="[#101] update"),
    C(
        "stranger with someone else's tag",
        MALLORY,
        "new",
        None,
        "none",
        subject="Re: [#101] Printer",
        reason_has=("not a participant",),
    ),
    C(
        "forwarded by a stranger with an old tag",
        MALLORY,
        "new",
        None,
        "none",
        subject="Fwd: [#104] old invoice",
        reason_has=("[#104]",),
    ),
    C(
        "participant of another ticket with this tag",
        BOB,
        "new",
        None,
        "none",
        subject="[#101] Printer",
    ),
    C(
        "tag for a ticket that does not exist",
        ALICE,
        "new",
        None,
        "none",
        subject="Re: [#99999] Printer",
        reason_has=("names no ticket",),
    ),
    C(
        "stranger's tag skipped, own tag used",
        BOB,
        "attach",
        102,
        "subject_tag",
        subject="[#101] [#102] both",
    ),
    C("not a tag: #101 and [# 101]", ALICE, "new", None, "none", subject="ticket #101 and [# 101]"),
    C("empty subject, nothing else", ALICE, "new", None, "none", subject=""),
    C(
        "empty subject with reply address",
        ALICE,
        "attach",
        101,
        "reply_address",
        to=(ra(101),),
        subject="",
    ),
    # --- resolved and closed tickets ---
    C("reply within the window reopens", DORA, "reopen", 103, "in_reply_to", irt=(ACK[103],)),
    C(
        "References to the client's own mail on a resolved ticket",
        DORA,
        "reopen",
        103,
        "references",
        refs=(DORA_FIRST,),
    ),
    C(
        "reply after the window opens a linked ticket",
        ERIN,
        "new_linked",
        None,
        "in_reply_to",
        irt=(ACK[104],),
        linked=104,
    ),
    C(
        "reply to a closed ticket opens a linked ticket",
        FRANK,
        "new_linked",
        None,
        "in_reply_to",
        irt=(ACK[105],),
        linked=105,
    ),
    C(
        "reply address to a closed ticket",
        FRANK,
        "new_linked",
        None,
        "reply_address",
        to=(ra(105),),
        linked=105,
    ),
    C(
        "reply address within the window reopens",
        DORA,
        "reopen",
        103,
        "reply_address",
        to=(ra(103),),
    ),
    C(
        "participant's tag after the window",
        ERIN,
        "new_linked",
        None,
        "subject_tag",
        subject="Re: [#104] again",
        linked=104,
    ),
    C(
        "participant's tag on a closed ticket",
        FRANK,
        "new_linked",
        None,
        "subject_tag",
        subject="AW: [#105]",
        linked=105,
    ),
    C("exactly at the window's edge reopens", DORA, "reopen", 107, "in_reply_to", irt=(ACK[107],)),
    C(
        "one minute past the window",
        DORA,
        "new_linked",
        None,
        "in_reply_to",
        irt=(ACK[108],),
        linked=108,
    ),
    C("naive resolved_at within the window", DORA, "reopen", 109, "in_reply_to", irt=(ACK[109],)),
    C(
        "naive resolved_at past the window",
        DORA,
        "new_linked",
        None,
        "in_reply_to",
        irt=(ACK[110],),
        linked=110,
    ),
    C("resolved without a time reopens", DORA, "reopen", 111, "in_reply_to", irt=(ACK[111],)),
]


def _input(case: Case) -> ThreadInput:
    return ThreadInput(
        sender=case.sender,
        recipients=tuple(r.lower() for r in case.to),
        in_reply_to=tuple(m.lower() for m in case.irt),
        references=tuple(m.lower() for m in case.refs),
        subject=case.subject,
    )


def test_table_is_large_and_names_are_unique() -> None:
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decide(case: Case) -> None:
    d = decide(_input(case), LOOKUP, KEYS, NOW, WINDOW)
    assert (d.action, d.ticket_id, d.via, d.linked_ticket_id, d.purpose) == (
        case.action,
        case.ticket,
        case.via,
        case.linked,
        case.purpose,
    ), d.reason
    assert d.is_new == (case.action in ("new", "new_linked"))
    assert d.reason
    for fragment in case.reason_has:
        assert fragment.lower() in d.reason.lower()


def test_no_keys_means_no_reply_address() -> None:
    msg = ThreadInput(ALICE, (ra(101),), (), (), "Printer")
    assert decide(msg, LOOKUP, (), NOW, WINDOW) == ThreadDecision(
        "new", None, "none", "no reference to a known ticket"
    )


_words = st.text(alphabet="Re:AW[#]0123456789 Fwd", max_size=40)


@settings(max_examples=300, deadline=None, database=None)
@given(prefix=_words, number=st.sampled_from([t.id for t in TICKETS] + [1, 99999]), suffix=_words)
def test_stranger_never_attaches_by_subject(prefix: str, number: int, suffix: str) -> None:
    """Whatever a stranger puts in the subject, without our ids it only ever opens a new ticket."""
    msg = ThreadInput(MALLORY, (SUPPORT,), (), (), f"{prefix}[#{number}]{suffix}")
    d = decide(msg, LOOKUP, KEYS, NOW, WINDOW)
    assert (d.action, d.ticket_id, d.via, d.linked_ticket_id) == ("new", None, "none", None)


class _Counting:
    """The table's lookup, counting what ``decide`` asks of it."""

    def __init__(self) -> None:
        self.asked = 0

    def by_number(self, number: int) -> TicketRef | None:
        self.asked += 1
        return LOOKUP.by_number(number)

    def by_message_id(self, message_id: str) -> TicketRef | None:
        self.asked += 1
        return LOOKUP.by_message_id(message_id)


def test_surely_new_is_new_without_a_lookup_and_only_then() -> None:
    """What the pipeline relies on to take a ticket's number before it has threaded the
    message: every case said to be surely new is new and looked nothing up; every case
    that looked something up (or attached) was not said to be surely new."""
    sure = 0
    for case in CASES:
        lookup = _Counting()
        decision = decide(_input(case), lookup, KEYS, NOW, WINDOW)
        if surely_new(_input(case), KEYS):
            sure += 1
            assert (decision.action, lookup.asked) == ("new", 0), case.name
        else:
            assert lookup.asked > 0, case.name
    assert 0 < sure < len(CASES)
    assert not surely_new(ThreadInput(ALICE, (ra(101),), (), (), "Printer"), KEYS)
    assert surely_new(ThreadInput(ALICE, (ra(101),), (), (), "Printer"), ())  # no keys
    assert not surely_new(ThreadInput(MALLORY, (SUPPORT,), (), (), "Re: [#1] x"), KEYS)
