"""Subject tags (``[#123]``) and the subject cleaning that goes with them."""

from __future__ import annotations

import re

_TAG_RE = re.compile(r"\[#(\d{1,12})\]")
# Reply/forward prefixes in the languages our clients write in, repeated or numbered.
_PREFIX_RE = re.compile(
    r"^\s*((re|aw|sv|vs|antw|antwort|ref|rif|r|tr|wg|fw|fwd|enc|rv|odp|atb|vá|ynt)(\[\d+\]|\(\d+\))?\s*:\s*)+",
    re.IGNORECASE,
)


def tag(ticket: int) -> str:
    return f"[#{ticket}]"


def tagged_subject(subject: str, ticket: int) -> str:
    """Our tag once, before the cleaned subject: ``[#12] Printer``; clients prefix their ``Re:``."""
    base = clean_subject(subject) or "(no subject)"
    return f"{tag(ticket)} {base}"


def find_tags(subject: str) -> list[int]:
    return [int(n) for n in _TAG_RE.findall(subject or "")]


def clean_subject(subject: str) -> str:
    """Without reply prefixes and without our tags, whitespace collapsed."""
    s = _TAG_RE.sub(" ", subject or "")
    s = _PREFIX_RE.sub("", s)
    s = _TAG_RE.sub(" ", s)
    return " ".join(s.split())
