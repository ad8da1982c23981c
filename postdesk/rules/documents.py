"""Document requests as pure decisions: which attachment fills which requested document, and
when a reminder is due. No I/O: the store and the mail live in ``document_flow``.

Matching a client's reply to the documents asked for:

1. Only real files count: inline parts (signature logos, pasted images) and empty files never
   fill a request.
2. A file whose name resembles a document's name goes to that document ("Passport.pdf" ->
   "Passport", "utility_bill_may.jpg" -> "Utility bill"); the closest pairs are taken first.
   A file that resembles a document we already received is a resend: it fills nothing else.
3. The files left over fill the documents still open in the order they were asked for
   ("scan1.pdf", "scan2.pdf" for "Passport" and "Payslip": one each, in that order).

So a single open document takes the first file, and several documents are matched by name
when the client named the files, by order otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_NAMES = 20
MAX_NAME_LENGTH = 200
NAME_THRESHOLD = 0.5  # share of a document name's words a file name must contain
# Words that say nothing about which document a file is.
_NOISE = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "my",
        "our",
        "your",
        "and",
        "for",
        "copy",
        "scan",
        "scanned",
        "document",
        "doc",
        "file",
        "attached",
        "attachment",
        "final",
        "signed",
        "new",
        "image",
        "img",
        "photo",
        "pdf",
        "jpg",
        "jpeg",
        "png",
    ]
)
_EXTENSION = re.compile(r"\.[a-z0-9]{1,5}$")
# Control characters are invisible, and PostgreSQL refuses NUL in text.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class DocumentError(ValueError):
    """Bad input for a document request (no names, a name too long, ...)."""


@dataclass(frozen=True, slots=True)
class Wanted:
    """A requested document: its id, its name, and whether it has arrived already."""

    id: int
    name: str
    received: bool = False


@dataclass(frozen=True, slots=True)
class IncomingFile:
    id: int
    filename: str
    inline: bool = False
    size: int = 1


@dataclass(frozen=True, slots=True)
class Match:
    document_id: int
    attachment_id: int
    how: str  # "name" | "order"


def plain_text(text: str) -> str:
    """Typed text as we store it: Unix line ends, no control characters but tab and newline."""
    return _CONTROLS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def one_line(text: str) -> str:
    """A name or subject: control characters and runs of blanks become one space."""
    return " ".join(_CONTROLS.sub(" ", text).split())


def clean_names(names: Iterable[str]) -> list[str]:
    """The names asked for, trimmed and without repeats; raises ``DocumentError``."""
    seen: dict[str, str] = {}
    for raw in names:
        name = one_line(str(raw))
        if not name:
            continue
        if len(name) > MAX_NAME_LENGTH:
            raise DocumentError(f"a document name has at most {MAX_NAME_LENGTH} characters")
        seen.setdefault(name.casefold(), name)
    if not seen:
        raise DocumentError("name at least one document")
    if len(seen) > MAX_NAMES:
        raise DocumentError(f"at most {MAX_NAMES} documents in one request")
    return list(seen.values())


def _words(text: str) -> list[str]:
    text = _EXTENSION.sub("", text.strip().casefold())
    words = re.split(r"[^0-9a-z\u00c0-\uffff]+", text)
    return [_stem(w) for w in words if w and w not in _NOISE]


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def similarity(document: str, filename: str) -> float:
    """0..1: how much ``filename`` looks like it is ``document``."""
    wanted = _words(document)
    if not wanted:
        return 0.0
    have = _words(filename)
    joined = "".join(wanted)
    # "utilitybill_may.pdf" for "Utility bill"; too short a name would match by chance
    if len(joined) >= 6 and joined in "".join(have):
        return 1.0
    hits = sum(1 for w in wanted if any(h == w or (len(w) >= 4 and h.startswith(w)) for h in have))
    return hits / len(wanted)


def match_attachments(wanted: Sequence[Wanted], files: Sequence[IncomingFile]) -> list[Match]:
    """Pair the files of one reply with the open documents (see the module's docstring)."""
    usable = [f for f in files if not f.inline and f.size > 0]
    pairs = sorted(
        (
            (-score, d.received, di, fi, d, f)
            for di, d in enumerate(wanted)
            for fi, f in enumerate(usable)
            if (score := similarity(d.name, f.filename)) >= NAME_THRESHOLD
        ),
        key=lambda p: p[:4],  # best score first; an open document before a received one
    )
    taken_docs: set[int] = set()
    taken_files: set[int] = set()
    matches: list[Match] = []
    for _score, received, _di, _fi, doc, file in pairs:
        if file.id in taken_files or doc.id in taken_docs:
            continue
        taken_files.add(file.id)
        if received:
            continue  # a resend of a document we hold: it fills nothing else
        taken_docs.add(doc.id)
        matches.append(Match(doc.id, file.id, "name"))
    still_open = [d for d in wanted if not d.received and d.id not in taken_docs]
    rest = [f for f in usable if f.id not in taken_files]
    matches.extend(Match(d.id, f.id, "order") for d, f in zip(still_open, rest, strict=False))
    return matches


def reminder_due(
    requested_at: datetime,
    last_reminded_at: datetime | None,
    reminders_sent: int,
    now: datetime,
    *,
    every_days: float,
    max_reminders: int,
) -> bool:
    """A reminder ``every_days`` after the request (then after the last reminder), at most
    ``max_reminders`` times. Sending one moves ``last_reminded_at`` to ``now``, so a second
    run at the same moment finds nothing due."""
    if reminders_sent >= max_reminders:
        return False
    since = last_reminded_at or requested_at
    return now >= since + timedelta(days=every_days)
