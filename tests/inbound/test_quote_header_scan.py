"""The quote-header scan tries mail-parser-reply's regex only at line edges, and finds exactly
what a plain ``finditer`` over the whole text finds."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postdesk.inbound.text_quotes import (
    MAX_HEADER_LINE,
    _library_header_lines,
    _library_header_regex,
)

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"

FRAGMENTS = [
    "On Mon, 2 Nov 2026 at 10:00, Ana <ana@client.example> wrote:",
    "Am 02.11.2026 um 10:00 schrieb Max <m@x.de>:",
    "Le lun. 2 nov. 2026 à 10:00, Ana a écrit :",
    "El lun, 2 nov 2026 a las 10:00, Ana escribió:",
    "Op ma 2 nov. 2026 om 10:00 schreef Ana:",
    "Den 2 nov 2026 skrev Ana <a@b.se>:",
    "2026年11月2日(月) 10:00 Ana <a@b.jp>:",
    "From: Ana <ana@client.example>",
    "Sent: Monday, November 2, 2026 10:00",
    "To: support@example.com",
    "Subject: Re: printer",
    "Von: Max",
    "Gesendet: Montag",
    "De : Ana",
    "Envoyé : lundi",
    "-----Original Message-----",
    "-----Oprindelig meddelelse-----",
    "*From:* Ana",
    "> ",
    ">> On Tue, Bob wrote:",
    "Thanks, the printer works again.",
    "wrote:",
    "",
    "   ",
]


def reference(text: str, lines: list[str]) -> set[int]:
    """What mail-parser-reply itself does: finditer over every position."""
    found: set[int] = set()
    for match in _library_header_regex().finditer(text):
        if match.group(0).strip():
            start = match.start() + len(match.group(0)) - len(match.group(0).lstrip())
            found.add(text.count("\n", 0, start))
    return {n for n in found if n < len(lines)}


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(FRAGMENTS),
            st.text(alphabet="ab :>*-\n\t", max_size=12),
        ),
        max_size=14,
    ),
    st.sampled_from(["\n", "\n\n", " \n", "\n> "]),
)
def test_the_same_headers_as_a_full_scan(parts: list[str], joiner: str) -> None:
    text = joiner.join(parts)
    lines = text.split("\n")
    assert _library_header_lines(text, lines) == reference(text, lines)


def test_headers_found_in_a_typical_reply() -> None:
    text = "Thanks!\n\nOn Mon, 2 Nov 2026 at 10:00, Ana <a@b.c> wrote:\n> old\n"
    lines = text.split("\n")
    assert _library_header_lines(text, lines) == {2}


def _corpus_texts() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.stat().st_size < 30_000)


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is absent")
def test_the_same_headers_on_every_corpus_file() -> None:
    checked = 0
    for path in _corpus_texts():
        raw = path.read_bytes().replace(b"\r\n", b"\n").decode("utf-8", "replace")
        lines = raw.split("\n")
        # As history_start feeds it: lines too long for a header are blanked.
        text = "\n".join(x if len(x) <= MAX_HEADER_LINE else "" for x in lines)
        assert _library_header_lines(text, lines) == reference(text, lines), path
        checked += 1
    assert checked > 1000
