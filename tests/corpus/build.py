"""Byte-level builders for the acceptance corpus (see ``make_corpus.py``).

Messages are assembled by hand rather than with ``email.message.EmailMessage`` so that the
corpus can hold exactly the broken bytes real mail carries: bare LF, raw 8-bit headers,
duplicated or over-long fields, wrong charsets.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass, field
from typing import Any

CLIENT = "Ana Client <ana@client.example>"
CLIENT_ADDR = "ana@client.example"
SUPPORT = "support@example.com"
DATE = "Mon, 02 Nov 2026 10:00:00 +0000"
# The test settings sign with this key; our own Message-IDs in the corpus are signed with it.
SECRET_KEY = b"test-secret-key-0123456789"

Header = tuple[str, str | bytes]


@dataclass
class Case:
    """One corpus file and what ingesting it must give."""

    name: str  # file stem: NAME-NN (alone) or NAME-NNx (x = a, b, ... in one scenario)
    raw: bytes
    cls: str  # normal | auto_reply | bounce | list | loop
    thread: str  # new | dropped | attach:<stem of an earlier file in the scenario>
    has: list[str] = field(default_factory=list)  # substrings text_new must contain
    lacks: list[str] = field(default_factory=list)  # substrings text_new must not contain
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # attachments, envelope_from, ...

    def expected(self) -> dict[str, Any]:
        out: dict[str, Any] = {"class": self.cls, "thread": self.thread, "note": self.note}
        if self.has:
            out["text_has"] = self.has
        if self.lacks:
            out["text_lacks"] = self.lacks
        return out | self.extra


def _bytes(value: str | bytes, charset: str = "utf-8") -> bytes:
    return value if isinstance(value, bytes) else value.encode(charset)


def headers_block(headers: list[Header], eol: bytes = b"\r\n") -> bytes:
    return b"".join(_bytes(k) + b": " + _bytes(v) + eol for k, v in headers)


def eol_lines(body: bytes, eol: bytes = b"\r\n") -> bytes:
    return body.replace(b"\r\n", b"\n").replace(b"\n", eol)


def message(headers: list[Header], body: str | bytes, *, eol: bytes = b"\r\n") -> bytes:
    return headers_block(headers, eol) + eol + eol_lines(_bytes(body), eol)


def std(
    subject: str | bytes,
    mid: str | None,
    *,
    frm: str | bytes = CLIENT,
    to: str = SUPPORT,
    date: str | None = DATE,
    reply_to_id: str | None = None,
    extra: list[Header] | None = None,
) -> list[Header]:
    """The usual header block; ``mid``/``reply_to_id`` without angle brackets."""
    out: list[Header] = []
    if frm is not None:
        out.append(("From", frm))
    out.append(("To", to))
    out.append(("Subject", subject))
    if date is not None:
        out.append(("Date", date))
    if mid is not None:
        out.append(("Message-ID", f"<{mid}>"))
    if reply_to_id:
        out += [("In-Reply-To", f"<{reply_to_id}>"), ("References", f"<{reply_to_id}>")]
    out.append(("MIME-Version", "1.0"))
    return out + (extra or [])


def text_part(
    text: str, charset: str = "utf-8", cte: str = "8bit", subtype: str = "plain"
) -> tuple[list[Header], bytes]:
    data = text.encode(charset)
    if cte == "base64":
        data = base64.encodebytes(data)
    elif cte == "quoted-printable":
        import quopri

        data = quopri.encodestring(data)
    return (
        [
            ("Content-Type", f'text/{subtype}; charset="{charset}"'),
            ("Content-Transfer-Encoding", cte),
        ],
        data,
    )


def binary_part(
    data: bytes, ctype: str, filename_params: str | None, *, disposition: str = "attachment"
) -> tuple[list[Header], bytes]:
    """``filename_params`` is the raw parameter text, e.g. ``filename="a.pdf"``."""
    headers: list[Header] = [("Content-Type", ctype), ("Content-Transfer-Encoding", "base64")]
    if filename_params is not None:
        headers.append(("Content-Disposition", f"{disposition}; {filename_params}"))
    return headers, base64.encodebytes(data)


def multipart(
    subtype: str, parts: list[tuple[list[Header], bytes]], boundary: str, params: str = ""
) -> tuple[Header, bytes]:
    """A Content-Type header and the body of a multipart with ``parts``."""
    b = boundary.encode()
    body = b"This is a multi-part message in MIME format.\r\n"
    for headers, data in parts:
        body += b"\r\n--" + b + b"\r\n" + headers_block(headers) + b"\r\n" + data.rstrip(b"\r\n")
    body += b"\r\n--" + b + b"--\r\n"
    return ("Content-Type", f'multipart/{subtype}; boundary="{boundary}"{params}'), body


def mime_message(headers: list[Header], ctype: Header, body: bytes) -> bytes:
    return headers_block([*headers, ctype]) + b"\r\n" + body


def tnef(files: list[tuple[str, bytes]]) -> bytes:
    """A minimal winmail.dat: signature, version, and per file its rendering, title and data."""

    def obj(level: int, name: int, kind: int, data: bytes) -> bytes:
        checksum = sum(data) & 0xFFFF
        return (
            struct.pack("<BHHI", level, name, kind, len(data)) + data + struct.pack("<H", checksum)
        )

    out = struct.pack("<IH", 0x223E9F78, 0x0001)
    out += obj(1, 0x9006, 0x0008, struct.pack("<I", 0x00010000))  # attTnefVersion
    out += obj(1, 0x9007, 0x0006, struct.pack("<II", 1252, 0))  # attOemCodepage
    for name, data in files:
        out += obj(2, 0x9002, 0x0006, b"\x01\x00\xff\xff\xff\xff" + b"\x00" * 8)
        out += obj(2, 0x8010, 0x0001, name.encode() + b"\x00")
        out += obj(2, 0x800F, 0x0006, data)
    return out
