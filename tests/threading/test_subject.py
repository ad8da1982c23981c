"""Subject cleaning across mail clients' languages, our tag, and finding tags."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postdesk.threading.subject import clean_subject, find_tags, tag, tagged_subject


@pytest.mark.parametrize(
    "subject",
    [
        "Printer",
        "Re: Printer",
        "RE: Printer",
        "re:Printer",
        "RE : Printer",
        "AW: Printer",
        "Antw: Printer",
        "Antwort: Printer",
        "SV: Printer",
        "Sv: Printer",
        "VS: Printer",
        "Odp: Printer",
        "Ynt: Printer",
        "YNT: Printer",
        "R: Printer",
        "RIF: Printer",
        "Ref: Printer",
        "ATB: Printer",
        "VÁ: Printer",
        "Vá: Printer",
        "Fwd: Printer",
        "FW: Printer",
        "Fw: Printer",
        "WG: Printer",
        "TR: Printer",
        "Enc: Printer",
        "RV: Printer",
        "Re[2]: Printer",
        "Re(3): Printer",
        "Re: AW: SV: Re: Printer",
        "Re: Fwd: WG: Printer",
        "[#12] Printer",
        "Re: [#12] Printer",
        "Re: AW: [#12] Printer",
        "[#12] Re: Printer",
        "Re: [#12] AW: [#12] Printer",
        "Printer [#12]",
        "  Re:   Printer  ",
        "Re:\tPrinter",
    ],
)
def test_clean_subject_strips_prefixes_and_tags(subject: str) -> None:
    assert clean_subject(subject) == "Printer"


@pytest.mark.parametrize(
    "subject",
    [
        "Regarding the printer",
        "Rechnung: offen",
        "Printer: broken",
        "Printer Re: toner",
        "Fwdable thing",
        "Sven: hello",
        "Trouble: login",
    ],
)
def test_clean_subject_keeps_what_is_not_a_prefix(subject: str) -> None:
    assert clean_subject(subject) == subject


@pytest.mark.parametrize("subject", ["", "Re:", "Re: AW:", "[#12]", "Re: [#12]", "   "])
def test_clean_subject_can_be_empty(subject: str) -> None:
    assert clean_subject(subject) == ""


def test_clean_subject_collapses_whitespace() -> None:
    assert clean_subject("Re:  Printer \n on   floor 3 ") == "Printer on floor 3"


def test_tagged_subject() -> None:
    assert tag(12) == "[#12]"
    assert tagged_subject("Printer", 12) == "[#12] Printer"
    assert tagged_subject("Re: AW: [#12] Printer", 12) == "[#12] Printer"
    assert tagged_subject("Re: [#7] Printer", 12) == "[#12] Printer"  # another ticket's tag goes
    assert tagged_subject("", 12) == "[#12] (no subject)"
    assert tagged_subject("Re:", 12) == "[#12] (no subject)"


@pytest.mark.parametrize("subject", ["Printer", "Re: AW: Printer", "", "[#12] x", "Fwd: [#3]"])
def test_tagged_subject_is_idempotent(subject: str) -> None:
    once = tagged_subject(subject, 12)
    assert tagged_subject(once, 12) == once
    assert tagged_subject(f"Re: {once}", 12) == once


@pytest.mark.parametrize(
    ("subject", "tags"),
    [
        ("[#123]", [123]),
        ("Re: AW: [#123] Printer", [123]),
        ("Printer [#123]", [123]),
        ("[#1] and [#22]", [1, 22]),
        ("[#0042]", [42]),
        ("[#999999999999]", [999999999999]),
        ("[#1234567890123]", []),  # 13 digits: not ours
        ("#123", []),
        ("[# 123]", []),
        ("[#]", []),
        ("[#abc]", []),
        ("[123]", []),
        ("", []),
    ],
)
def test_find_tags(subject: str, tags: list[int]) -> None:
    assert find_tags(subject) == tags


def test_find_tags_none() -> None:
    assert find_tags(None) == []  # type: ignore[arg-type]


_pieces = st.sampled_from([*"ReAWSVFwdTR:[]#0123 \t\u00a0é", "Re: ", "[#12]", "AW:", "(2)"])
_subjects = st.lists(_pieces, max_size=15).map("".join) | st.text(max_size=30)


@settings(max_examples=400, deadline=None, database=None)
@given(subject=_subjects, ticket=st.integers(1, 10**12 - 1))
def test_subject_properties(subject: str, ticket: int) -> None:
    cleaned = clean_subject(subject)
    assert clean_subject(cleaned) == cleaned
    assert find_tags(cleaned) == []
    tagged = tagged_subject(subject, ticket)
    assert tagged_subject(tagged, ticket) == tagged
    assert find_tags(tagged) == [ticket]
