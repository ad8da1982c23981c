"""The quote-header scan tries mail-parser-reply's regex only at line edges, and finds exactly
what a plain ``finditer`` over the whole text finds."""

from __future__ import annotations

import re
from pathlib import Path
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

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
    "Venlig hilsen Ana -----Oprindelig meddelelse-----\nFra: Ana\nTil: Bo",
    "xx -----Oprindelig meddelelse-----\nFra: Ana\nSendt: mandag",
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


@settings(max_examples=600, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(FRAGMENTS),
            st.text(alphabet="ab :>*-\n\t", max_size=12),
        ),
        max_size=14,
    ),
    # Some joiners keep the next fragment on the same line, after other text.
    st.sampled_from(["\n", "\n\n", " \n", "\n> ", " ", "xx ", "\n* "]),
)
def test_the_same_headers_as_a_full_scan(parts: list[str], joiner: str) -> None:
    text = joiner.join(parts)
    lines = text.split("\n")
    assert _library_header_lines(text, lines) == reference(text, lines)


def test_a_danish_separator_inside_a_line_starts_a_header_there() -> None:
    text = "Hej\n\nVenlig hilsen Ana -----Oprindelig meddelelse-----\nFra: Ana\nTil: Bo\n"
    lines = text.split("\n")
    assert _library_header_lines(text, lines) == reference(text, lines) == {2}


def _top_level_branches(pattern: str) -> list[str]:
    parts, current, depth, escaped, in_class = [], "", 0, False, False
    for ch in pattern:
        if escaped:
            current, escaped = current + ch, False
            continue
        if ch == "\\":
            current, escaped = current + ch, True
            continue
        if in_class:
            current, in_class = current + ch, ch != "]"
            continue
        if ch == "[":
            in_class = True
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "|" and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += ch
    return [*parts, current]


def _firsts(items: Any) -> tuple[set[tuple[Any, Any]], bool]:
    """What a parsed sequence can begin with, and whether it can match empty."""
    out: set[tuple[Any, Any]] = set()
    for op, av in items:
        if op in (sre.ASSERT, sre.ASSERT_NOT):
            continue  # zero-width: the next item decides
        if op is sre.SUBPATTERN:
            first, empty = _firsts(av[-1])
        elif op is sre.BRANCH:
            pairs = [_firsts(seq) for seq in av[1]]
            first = set().union(*(p[0] for p in pairs))
            empty = any(p[1] for p in pairs)
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            first, inner_empty = _firsts(av[2])
            empty = av[0] == 0 or inner_empty
        else:
            first, empty = {(op, av if op in (sre.AT, sre.LITERAL) else None)}, False
        out |= first
        if not empty:
            return out, False
    return out, True


def test_every_branch_of_the_library_regex_starts_where_the_scan_looks() -> None:
    """The scan's premise, checked on the installed mail-parser-reply: each branch starts at a
    line start, at a newline, or (the Danish one) at its separator."""
    regex = _library_header_regex()
    edges = {(sre.AT, sre.AT_BEGINNING), (sre.AT, sre.AT_BEGINNING_LINE), (sre.LITERAL, 10)}
    branches = _top_level_branches(regex.pattern)
    assert len(branches) > 20
    unanchored = []
    for branch in branches:
        first, empty = _firsts(sre_parse.parse(branch, regex.flags))
        assert not empty, branch
        if not first <= edges:
            unanchored.append(branch)
            assert first - edges == {(sre.LITERAL, ord("-"))}, branch
    assert len(unanchored) == 1 and "Oprindelig meddelelse" in unanchored[0]
    assert re.search("Oprindelig meddelelse", regex.pattern)


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
