"""Attachment names and text that reach the database and a user's download: no path, no
control or bidi-format characters, no NUL (PostgreSQL refuses it), bounded length."""

from __future__ import annotations

import pytest

from postdesk.inbound.attachments import MAX_NAME_CHARS, safe_filename
from postdesk.inbound.decode import header_text, strip_controls


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\Windows\\system32\\evil.dll", "evil.dll"),
        ("/etc/shadow", "shadow"),
        ("inv\x00oice.pdf", "inv_oice.pdf"),
        ("a\rb\nc\x1b.pdf", "a_b_c_.pdf"),
        ("invoice\u202efdp.exe", "invoice_fdp.exe"),  # right-to-left override
        ("zero\u200bwidth.txt", "zero_width.txt"),
        ("\x85next-line.txt", "_next-line.txt"),  # a C1 control
        ("..", ""),
        ("  .hidden.  ", "hidden"),
        ("Rechnung März.pdf", "Rechnung März.pdf"),
    ],
)
def test_safe_filename(name: str, safe: str) -> None:
    assert safe_filename(name) == safe


def test_long_names_are_cut_keeping_the_extension() -> None:
    assert safe_filename("a" * 300 + ".pdf") == "a" * (MAX_NAME_CHARS - 4) + ".pdf"
    no_ext = safe_filename("b" * 300)
    assert no_ext == "b" * MAX_NAME_CHARS
    odd_ext = safe_filename("c" * 300 + "." + "d" * 40)  # not an extension: plain cut
    assert len(odd_ext) == MAX_NAME_CHARS and odd_ext.startswith("c")


def test_controls_leave_text_but_keep_line_structure() -> None:
    assert strip_controls("a\x00b\x07c\td\r\ne\x7f") == "abc\td\r\ne"
    assert header_text("=?utf-8?q?Hi=00_there=1B?=") == "Hi there"
