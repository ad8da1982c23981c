from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta, timezone
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path

import pytest

from postdesk.gateway.receive import synthetic_message_id
from postdesk.inbound.parse import ParseError, parse_message
from postdesk.store.blobs import FileBlobStore


def mail(
    *header_lines: str, body: str = "Hello", ctype: str = "text/plain; charset=utf-8"
) -> bytes:
    head = "\r\n".join([*header_lines, f"Content-Type: {ctype}", "MIME-Version: 1.0"])
    return (head + "\r\n\r\n" + body.replace("\n", "\r\n")).encode("utf-8", "surrogateescape")


def test_basic_fields(blobs: FileBlobStore) -> None:
    raw = mail(
        "From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <Juergen@Example.COM>",
        "To: Support <SUPPORT@example.org>, other@example.org",
        "Cc: unlisted-recipients:; (no To-header on input)",
        "Subject: =?utf-8?b?R3LDvMOfZQ==?= and\r\n  more",
        "Date: Mon, 20 Apr 2020 04:20:20 -0400",
        "Message-ID: <ABC.123@Mail.Example.com>",
        "In-Reply-To: <X@Y>",
        "References: <A@b> <X@Y>\r\n <c@D>",
    )
    msg = parse_message(raw, blobs)
    assert msg.from_addr is not None
    assert (msg.from_addr.email, msg.from_addr.name) == ("juergen@example.com", "Jürgen Müller")
    assert [a.email for a in msg.to] == ["support@example.org", "other@example.org"]
    assert msg.cc == ()
    assert msg.subject == "Grüße and more"
    assert msg.date == datetime(2020, 4, 20, 4, 20, 20, tzinfo=timezone(timedelta(hours=-4)))
    assert msg.message_id == "abc.123@mail.example.com"
    assert msg.in_reply_to == ("x@y",)
    assert msg.references == ("a@b", "x@y", "c@d")
    assert msg.text == "Hello"
    assert msg.raw_sha256 == hashlib.sha256(raw).hexdigest()
    assert ("Subject", "Grüße and more") in msg.headers


def test_missing_message_id_is_synthesised_and_zoneless_date_is_utc(blobs: FileBlobStore) -> None:
    raw = mail("From: a@b.example", "Date: Mon, 20 Apr 2020 04:20:20 -0000")
    msg = parse_message(raw, blobs)
    assert msg.message_id == synthetic_message_id(hashlib.sha256(raw).hexdigest())
    assert msg.date == datetime(2020, 4, 20, 4, 20, 20, tzinfo=UTC)


def test_broken_headers_never_raise(blobs: FileBlobStore) -> None:
    raw = mail(
        "From: \udcc3\udca9milie <e@x.example>",
        "To: undisclosed-recipients:;",
        "Message-ID: \uff1cweird@id\uff1e",
        "Date: not a date at all",
        "Subject: =?x-unknown?q?caf=E9?= =?utf-8?b?broken-base64?=",
    )
    msg = parse_message(raw, blobs)
    assert msg.from_addr is not None and msg.from_addr.name == "émilie"
    assert msg.to == ()
    assert msg.message_id == "weird@id"
    assert msg.date is None
    assert msg.subject.startswith("café")


def test_raw_8bit_header_keeps_umlauts(blobs: FileBlobStore) -> None:
    raw = b"From: x@y.example\r\nSubject: Gr\xc3\xbc\xc3\x9fe\r\n\r\nhi"
    assert parse_message(raw, blobs).subject == "Grüße"
    raw = b"From: x@y.example\r\nSubject: Gr\xfc\xdfe\r\n\r\nhi"  # latin-1 bytes
    assert parse_message(raw, blobs).subject == "Grüße"


@pytest.mark.parametrize(
    ("declared", "body", "expected"),
    [
        ("utf-8", "Grüße".encode(), "Grüße"),
        ("iso-8859-1", "Grüße".encode("latin-1"), "Grüße"),
        ("X-UNKNOWN", "Grüße".encode(), "Grüße"),  # unknown charset: utf-8 fallback
        ("utf-8", "Grüße – “ok”".encode("cp1252"), "Grüße – “ok”"),  # lie: cp1252 fallback
        ("iso-gb2312", "你好".encode("gb2312"), "你好"),
    ],
)
def test_body_charset_fallback(
    blobs: FileBlobStore, declared: str, body: bytes, expected: str
) -> None:
    raw = (
        b"From: x@y.example\r\nContent-Type: text/plain; charset="
        + declared.encode()
        + b"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + body
    )
    msg = parse_message(raw, blobs)
    assert msg.text == expected
    assert "\ufffd" not in msg.text


def _multipart(*parts: str, subtype: str = "mixed") -> bytes:
    lines = [
        "From: a@b.example",
        "Subject: parts",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/{subtype}; boundary="BOUND"',
        "",
    ]
    for part in parts:
        lines += ["--BOUND", part]
    lines.append("--BOUND--")
    return "\r\n".join(lines).encode()


def test_html_only_is_sanitised_and_gives_text(blobs: FileBlobStore) -> None:
    html = (
        '<p onclick="x()">Hi <b>there</b><script>alert(1)</script>'
        '<img src="https://track.example/p.gif"><img src="cid:logo@x">'
        '<a href="https://example.com">link</a></p>'
    )
    raw = mail("From: a@b.example", body=html, ctype="text/html; charset=utf-8")
    msg = parse_message(raw, blobs)
    assert msg.html is not None
    assert "script" not in msg.html and "alert" not in msg.html and "onclick" not in msg.html
    assert "track.example" not in msg.html
    assert 'src="cid:logo@x"' in msg.html
    assert 'rel="noopener noreferrer"' in msg.html
    assert msg.text.startswith("Hi there")


def test_attachments_inline_images_and_forwarded_message(blobs: FileBlobStore) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    b64 = base64.encodebytes(png).decode().replace("\n", "\r\n")
    raw = _multipart(
        "Content-Type: text/plain; charset=utf-8\r\n\r\nsee attached",
        'Content-Type: text/html; charset=utf-8\r\n\r\n<p>see <img src="cid:img1@x"></p>',
        "Content-Type: image/png\r\nContent-ID: <img1@x>\r\nContent-Transfer-Encoding: base64"
        "\r\n\r\n" + b64,
        "Content-Type: image/png\r\nContent-ID: <unused@x>\r\nContent-Transfer-Encoding: base64"
        "\r\n\r\n" + b64,
        'Content-Type: application/pdf; name="=?utf-8?q?R=C3=A9sum=C3=A9.pdf?="\r\n'
        "Content-Disposition: attachment; filename*=utf-8''R%C3%A9sum%C3%A9.pdf\r\n\r\n%PDF-1.4",
        "Content-Type: message/rfc822\r\n\r\nFrom: c@d.example\r\nSubject: Old one\r\n\r\nold body",
    )
    msg = parse_message(raw, blobs)
    assert msg.text == "see attached"
    names = [(a.filename, a.inline, a.content_id) for a in msg.attachments]
    assert names[0] == ("attachment-1.png", True, "img1@x")
    assert names[1][1:] == (False, "unused@x")  # not shown in the HTML: a plain attachment
    assert names[2][0] == "Résumé.pdf"
    assert names[3][0] == "Old one.eml"
    assert blobs.get(msg.attachments[0].sha256) == png
    assert msg.attachments[0].size == len(png)
    assert b"old body" in blobs.get(msg.attachments[3].sha256)


def test_oversized_attachment_is_skipped_and_recorded(blobs: FileBlobStore) -> None:
    big = base64.encodebytes(b"x" * 5000).decode().replace("\n", "\r\n")
    raw = _multipart(
        "Content-Type: text/plain\r\n\r\nbody",
        'Content-Type: application/octet-stream; name="big.bin"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n" + big,
        'Content-Type: application/octet-stream; name="small.bin"\r\n\r\nsmall',
    )
    msg = parse_message(raw, blobs, max_attachment_bytes=4999)
    assert [a.filename for a in msg.attachments] == ["small.bin"]
    assert any("big.bin" in d and "5000" in d for d in msg.defects)
    assert [a.size for a in parse_message(raw, blobs, max_attachment_bytes=5000).attachments] == [
        5000,
        5,
    ]


def test_large_attachment_streams_with_bounded_memory(blobs: FileBlobStore) -> None:
    import tracemalloc

    payload = bytes(range(256)) * (20 * 1024 * 1024 // 256)
    b64 = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    raw = (
        b'From: a@b.example\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n'
        b"Content-Type: text/plain\r\n\r\nbig one\r\n--B\r\nContent-Type: application/zip\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + b64 + b"\r\n--B--\r\n"
    )
    del b64
    tracemalloc.start()
    BytesParser(policy=compat32).parsebytes(raw)
    _, parser_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    msg = parse_message(raw, blobs)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert msg.attachments[0].size == len(payload)
    assert msg.attachments[0].sha256 == hashlib.sha256(payload).hexdigest()
    # The stdlib parser itself peaks near 8x the message (its line lists); what we add on top
    # (decoding into the blob store) must stay well under one more copy of the message.
    assert peak - parser_peak < 1.5 * len(raw), (peak, parser_peak)


def test_tnef_is_unpacked(blobs: FileBlobStore, corpus: Path) -> None:
    tnef = (corpus / "mimekit/UnitTests/TestData/tnef/two-files.tnef").read_bytes()
    b64 = base64.encodebytes(tnef).decode().replace("\n", "\r\n")
    raw = _multipart(
        "Content-Type: text/plain\r\n\r\nfrom outlook",
        'Content-Type: application/ms-tnef; name="winmail.dat"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n" + b64,
    )
    msg = parse_message(raw, blobs)
    assert [a.filename for a in msg.attachments] == ["AUTHORS", "README"]


@pytest.mark.parametrize("raw", [b"", b"   \r\n", b"\x00\x01\x02\x03binary" * 50])
def test_garbage_raises_parse_error(blobs: FileBlobStore, raw: bytes) -> None:
    with pytest.raises(ParseError):
        parse_message(raw, blobs)
