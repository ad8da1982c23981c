"""Signed reply addresses and Message-IDs.

A reply address ``support+<ticket>-<sig>@domain`` (``-note`` / ``-agent`` suffixes for the
internal addresses) routes a reply even when the client's provider rewrote every header. The
signature covers ticket and purpose, so a reply address cannot be turned into a note address,
and is lowercase base32 because some providers lowercase local parts. Several keys may be
given: the first signs, all verify (key rotation with a grace period).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Purpose = Literal["reply", "note", "agent"]
PURPOSES: tuple[Purpose, ...] = ("reply", "note", "agent")
_SIG_LEN = 10  # 50 bits of base32

# The local part may itself hold a "+" (e.g. owner+help@gmail.com): the token is the last one.
_ADDR_RE = re.compile(
    r"^(?P<local>[^@]+)\+(?P<ticket>\d{1,12})-(?P<sig>[a-z2-7]{10})"
    r"(?:-(?P<purpose>note|agent))?@(?P<domain>[^@]+)$"
)
_MSGID_RE = re.compile(
    r"^pd\.(?P<ticket>\d{1,12})\.(?P<nonce>[a-z2-7]{8,26})\.(?P<sig>[a-z2-7]{10})@(?P<domain>[^@>]+)$"
)


@dataclass(frozen=True, slots=True)
class ReplyToken:
    ticket: int
    purpose: Purpose
    base_address: str  # the support address it was derived from


def _sign(key: bytes, message: str) -> str:
    mac = hmac.new(key, message.encode(), hashlib.sha256).digest()
    return base64.b32encode(mac).decode().lower()[:_SIG_LEN]


def reply_address(support_address: str, ticket: int, key: bytes, purpose: Purpose = "reply") -> str:
    local, _, domain = support_address.lower().partition("@")
    sig = _sign(key, f"addr:{ticket}:{purpose}")
    suffix = "" if purpose == "reply" else f"-{purpose}"
    return f"{local}+{ticket}-{sig}{suffix}@{domain}"


def parse_reply_address(address: str, keys: Sequence[bytes]) -> ReplyToken | None:
    """The ticket and purpose of a signed reply address, or None if it is not one of ours."""
    m = _ADDR_RE.match(address.strip().lower())
    if not m:
        return None
    ticket = int(m["ticket"])
    purpose: Purpose = m["purpose"] or "reply"  # type: ignore[assignment]
    for key in keys:
        if hmac.compare_digest(_sign(key, f"addr:{ticket}:{purpose}"), m["sig"]):
            return ReplyToken(ticket, purpose, f"{m['local']}@{m['domain']}")
    return None


def make_message_id(domain: str, ticket: int | None, key: bytes) -> str:
    """A Message-ID (without brackets) that we can later recognise as ours."""
    nonce = base64.b32encode(secrets.token_bytes(10)).decode().lower().rstrip("=")
    t = ticket or 0
    return f"pd.{t}.{nonce}.{_sign(key, f'mid:{t}:{nonce}')}@{domain}"


def parse_message_id(message_id: str, keys: Sequence[bytes]) -> int | None:
    """The ticket number (0 when none) of one of our Message-IDs, or None if it is not ours."""
    m = _MSGID_RE.match(message_id.strip().strip("<>").lower())
    if not m:
        return None
    for key in keys:
        if hmac.compare_digest(_sign(key, f"mid:{m['ticket']}:{m['nonce']}"), m["sig"]):
            return int(m["ticket"])
    return None
