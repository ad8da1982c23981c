"""Signed reply addresses and Message-IDs: round trips, tampering, case, key rotation."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from postdesk.threading.tokens import (
    PURPOSES,
    Purpose,
    ReplyToken,
    make_message_id,
    parse_message_id,
    parse_reply_address,
    reply_address,
)

SUPPORT = "support@ourdesk.example"
KEY = b"current key"
OLD = b"previous key"
OTHER = b"someone else's key"


def _flip_sig(address: str, index: int) -> str:
    """Change one character of the signature (the 10 characters after '<ticket>-')."""
    m = re.search(r"\+\d+-([a-z2-7]{10})", address)
    assert m is not None
    pos = m.start(1) + index
    new = "a" if address[pos] != "a" else "b"
    return address[:pos] + new + address[pos + 1 :]


@pytest.mark.parametrize("purpose", PURPOSES)
def test_round_trip(purpose: Purpose) -> None:
    address = reply_address(SUPPORT, 4711, KEY, purpose)
    assert parse_reply_address(address, [KEY]) == ReplyToken(4711, purpose, SUPPORT)


def test_shape() -> None:
    assert re.fullmatch(
        r"support\+12-[a-z2-7]{10}@ourdesk\.example", reply_address(SUPPORT, 12, KEY)
    )
    assert reply_address(SUPPORT, 12, KEY, "note").endswith("-note@ourdesk.example")
    assert reply_address(SUPPORT, 12, KEY, "agent").endswith("-agent@ourdesk.example")
    # deterministic: the same ticket always gets the same address under one key
    assert reply_address(SUPPORT, 12, KEY) == reply_address(SUPPORT, 12, KEY)
    assert reply_address(SUPPORT, 12, KEY) != reply_address(SUPPORT, 13, KEY)


def test_support_address_is_lowercased() -> None:
    address = reply_address("Support@OurDesk.Example", 5, KEY)
    assert address == address.lower()
    assert parse_reply_address(address, [KEY]) == ReplyToken(5, "reply", SUPPORT)


def test_local_part_with_plus() -> None:
    """A support address that is itself a sub-address (owner+help@...) still round-trips."""
    base = "owner+help@gmail.example"
    for purpose in PURPOSES:
        token = parse_reply_address(reply_address(base, 9, KEY, purpose), [KEY])
        assert token == ReplyToken(9, purpose, base)


@pytest.mark.parametrize("index", range(10))
def test_every_signature_character_counts(index: int) -> None:
    assert parse_reply_address(_flip_sig(reply_address(SUPPORT, 12, KEY), index), [KEY]) is None


@pytest.mark.parametrize(
    "tamper",
    [
        lambda a: a.replace("+12-", "+13-"),  # other ticket
        lambda a: a.replace("+12-", "+120-"),
        lambda a: a.replace("@", "-note@"),  # reply -> note
        lambda a: a.replace("@", "-agent@"),
        lambda a: a.replace("@", "x@"),  # signature one too long
        lambda a: re.sub(r"[a-z2-7]@", "@", a),  # one too short
        lambda a: a.replace("@", "-other@"),  # unknown purpose
    ],
    ids=["ticket", "ticket-digit", "to-note", "to-agent", "long", "short", "purpose"],
)
def test_tampering_is_detected(tamper) -> None:  # type: ignore[no-untyped-def]
    address = reply_address(SUPPORT, 12, KEY)
    assert parse_reply_address(tamper(address), [KEY]) is None


def test_purpose_cannot_be_dropped() -> None:
    note = reply_address(SUPPORT, 12, KEY, "note")
    assert parse_reply_address(note.replace("-note@", "@"), [KEY]) is None
    assert parse_reply_address(note.replace("-note@", "-agent@"), [KEY]) is None


@pytest.mark.parametrize(
    "transform", [str.upper, str.title, lambda a: f"  {a}\t"], ids=["upper", "title", "padded"]
)
def test_case_and_whitespace_insensitive(transform) -> None:  # type: ignore[no-untyped-def]
    address = reply_address(SUPPORT, 12, KEY, "agent")
    assert parse_reply_address(transform(address), [KEY]) == ReplyToken(12, "agent", SUPPORT)


def test_key_rotation() -> None:
    old_address = reply_address(SUPPORT, 12, OLD)
    assert parse_reply_address(old_address, [KEY, OLD]) == ReplyToken(12, "reply", SUPPORT)
    assert parse_reply_address(old_address, [KEY]) is None  # grace period over
    assert parse_reply_address(reply_address(SUPPORT, 12, KEY), [KEY, OLD]) is not None
    assert parse_reply_address(reply_address(SUPPORT, 12, OTHER), [KEY, OLD]) is None
    assert parse_reply_address(old_address, []) is None


@pytest.mark.parametrize(
    "address",
    [
        SUPPORT,
        "alice+newsletter@client.example",
        "support+12@ourdesk.example",
        "support+12-abcdefghij",
        "support+-abcdefghij@x.example",
        "+12-abcdefghij@x.example",
        "support+12-abcdefgh1j@x.example",
        "",
        "not an address",
    ],
)
def test_foreign_addresses(address: str) -> None:
    assert parse_reply_address(address, [KEY]) is None


@settings(max_examples=200, deadline=None, database=None)
@given(
    ticket=st.integers(1, 10**12 - 1),
    purpose=st.sampled_from(PURPOSES),
    key=st.binary(min_size=1, max_size=32),
    other=st.binary(min_size=1, max_size=32),
)
def test_reply_address_property(ticket: int, purpose: Purpose, key: bytes, other: bytes) -> None:
    address = reply_address(SUPPORT, ticket, key, purpose)
    token = ReplyToken(ticket, purpose, SUPPORT)
    assert parse_reply_address(address, [key]) == token
    assert parse_reply_address(address.upper(), [other, key]) == token
    assume(other != key)
    assert parse_reply_address(address, [other]) is None


# --- Message-IDs ---


def test_message_id_round_trip() -> None:
    mid = make_message_id("ourdesk.example", 42, KEY)
    assert re.fullmatch(r"pd\.42\.[a-z2-7]{16}\.[a-z2-7]{10}@ourdesk\.example", mid)
    assert parse_message_id(mid, [KEY]) == 42
    assert parse_message_id(f"<{mid}>", [KEY]) == 42
    assert parse_message_id(f" <{mid.upper()}> ", [KEY]) == 42


def test_message_id_without_ticket_is_zero() -> None:
    mid = make_message_id("ourdesk.example", None, KEY)
    assert mid.startswith("pd.0.")
    assert parse_message_id(mid, [KEY]) == 0


def test_message_ids_are_unique() -> None:
    assert len({make_message_id("ourdesk.example", 1, KEY) for _ in range(50)}) == 50


def test_message_id_keys() -> None:
    mid = make_message_id("ourdesk.example", 7, OLD)
    assert parse_message_id(mid, [KEY, OLD]) == 7
    assert parse_message_id(mid, [KEY]) is None
    assert parse_message_id(mid, [OTHER]) is None


def test_message_id_tampering() -> None:
    mid = make_message_id("ourdesk.example", 7, KEY)
    _, ticket, nonce, rest = mid.split(".", 3)
    assert parse_message_id(mid.replace("pd.7.", "pd.8.", 1), [KEY]) is None
    swapped = ("b" if nonce[0] == "a" else "a") + nonce[1:]
    assert parse_message_id(f"pd.{ticket}.{swapped}.{rest}", [KEY]) is None
    sig = rest[:10]
    bad_sig = ("b" if sig[0] == "a" else "a") + sig[1:]
    assert parse_message_id(mid.replace(sig, bad_sig), [KEY]) is None


@pytest.mark.parametrize(
    "mid",
    [
        "CAFE01.4711@mail.client.example",
        "AM6PR01MB1234.eurprd01.prod.outlook.com",
        "pd.7@ourdesk.example",
        "pd.x.abcdefgh.abcdefghij@ourdesk.example",
        "",
        "<>",
    ],
)
def test_foreign_message_ids(mid: str) -> None:
    assert parse_message_id(mid, [KEY]) is None
