"""Structured header fields (ids, addresses, dates) read from raw values without raising."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import getaddresses, parsedate_to_datetime

from postdesk.inbound.decode import decode_words, strip_controls, text_from_header, unfold
from postdesk.inbound.message import Address

# Brackets as seen in the wild: ASCII, and full-width / guillemet look-alikes from broken clients.
_OPEN = "<＜‹«"
_CLOSE = ">＞›»"
_BRACKETED = re.compile(rf"[{_OPEN}]\s*([^{_OPEN}{_CLOSE}\s]+?)\s*[{_CLOSE}]")


def message_ids(value: str | None) -> tuple[str, ...]:
    """Every id in a Message-ID / In-Reply-To / References value: no brackets, lowercased."""
    if not value:
        return ()
    text = text_from_header(unfold(value))
    found = _BRACKETED.findall(text)
    if not found:
        # Unbracketed ids: keep tokens that look like addr-specs.
        found = [tok.strip("<>,;\"'") for tok in text.split() if "@" in tok]
    seen: dict[str, None] = {}
    for mid in found:
        mid = strip_controls(mid).strip().lower()
        if mid and len(mid) <= 998:
            seen.setdefault(mid, None)
    return tuple(seen)


def first_message_id(value: str | None) -> str | None:
    ids = message_ids(value)
    if ids:
        return ids[0]
    if value:
        # A lone token without brackets or '@' is still the sender's id; keep it.
        token = strip_controls(text_from_header(unfold(value))).strip(_OPEN + _CLOSE).split()
        if token:
            return token[0].lower()
    return None


def addresses(values: list[str]) -> tuple[Address, ...]:
    """Addresses from one or more raw header values; groups and garbage are skipped."""
    out: list[Address] = []
    raw = [text_from_header(unfold(v)) for v in values if v]
    if not raw:
        return ()
    try:
        pairs = getaddresses(raw)
    except Exception:  # the stdlib parser has raised on odd input in past releases
        pairs = []
    for name, email in pairs:
        email = strip_controls(email).strip().strip("<>").lower()
        if not email or " " in email or email.endswith(":"):
            continue
        try:
            display = strip_controls(decode_words(name)).strip().strip('"').strip()
        except Exception:
            display = name
        out.append(Address(email=email, name=display))
    return tuple(out)


def parse_date(value: str | None) -> datetime | None:
    """An aware datetime, or None; a zone-less date (``-0000``) is taken as UTC."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(text_from_header(unfold(value)).strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
