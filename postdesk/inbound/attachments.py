"""MIME leaf parts into the blob store: decoded in chunks, size-capped, TNEF unpacked.

A 20 MB attachment arrives as ~27 MB of base64 text inside the parsed message; decoding it
in 1 MB slices straight into ``blobs.put_stream`` avoids a second full copy.

winmail.dat (application/ms-tnef): the files inside are stored instead of the container,
which no customer or agent can open. The container itself is not kept as an attachment: it
stays recoverable from the raw message, which is always stored. When nothing can be extracted
the container is kept as an ordinary attachment so nothing is hidden.
"""

from __future__ import annotations

import binascii
import mimetypes
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from email.message import Message
from pathlib import PurePosixPath, PureWindowsPath

from postdesk.contracts import BlobStore
from postdesk.inbound.decode import decode_words, text_from_header
from postdesk.inbound.large_parts import CutMessage
from postdesk.inbound.message import AttachmentRef

_CHUNK = 1 << 20
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/]")
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f/\\]")
MAX_NAME_CHARS = 255  # the column's width, and what file systems allow
TNEF_TYPES = {"application/ms-tnef", "application/vnd.ms-tnef"}


class AttachmentSink:
    """Stores parts one by one and remembers the refs and what was skipped."""

    def __init__(
        self, blobs: BlobStore, max_bytes: int | None, cut: CutMessage | None = None
    ) -> None:
        self.blobs = blobs
        self.max_bytes = max_bytes
        self.cut = cut  # large base64 runs the parser never saw (see large_parts)
        self.refs: list[AttachmentRef] = []
        self.defects: list[str] = []
        self.tnef_html: str | None = None  # an HTML body found inside a TNEF container

    def add_part(self, part: Message, content_type: str, inline: bool) -> None:
        filename = part_filename(part, content_type, len(self.refs) + 1)
        cid = content_id(part)
        is_tnef = content_type in TNEF_TYPES or filename.lower() == "winmail.dat"
        is_base64 = part.get("Content-Transfer-Encoding", "").strip().lower() == "base64"
        if is_base64 and not is_tnef:
            text = _payload_text(part)
            cut = self.cut
            if cut is not None and cut.tokens_in(text):
                self._add_base64(lambda: cut.pieces(text), filename, content_type, cid, inline)
            else:
                self._add_base64(lambda: [text], filename, content_type, cid, inline)
            return
        self.restore(part)  # decoded whole below
        data = _decoded(part)
        if data is None:
            return
        if is_tnef and self._add_tnef(data):
            return
        self._add_bytes(data, filename, content_type, cid, inline)

    def restore(self, part: Message) -> None:
        """Put cut-out runs back into a leaf part that is not decoded by slices."""
        # The stored payload itself: get_payload() may hand back a decoded copy (8-bit text
        # with surrogates), and set_payload() would re-encode it.
        payload = getattr(part, "_payload", None)
        if self.cut is not None and isinstance(payload, str) and self.cut.tokens_in(payload):
            part._payload = self.cut.restore_text(payload)  # type: ignore[attr-defined]

    def add_bytes(self, data: bytes, filename: str, content_type: str) -> None:
        self._add_bytes(data, filename, content_type, None, False)

    def add_chunks(
        self, chunks: Callable[[], Iterable[bytes]], filename: str, content_type: str
    ) -> None:
        """Store bytes given in slices (``chunks`` gives a fresh iterator on each call)."""
        if self.max_bytes is not None and self._too_big(sum(map(len, chunks())), filename):
            return
        sha, size = self.blobs.put_stream(chunks())
        self.refs.append(AttachmentRef(filename, content_type, size, sha, None, False))

    def _too_big(self, size: int, filename: str) -> bool:
        if self.max_bytes is not None and size > self.max_bytes:
            self.defects.append(
                f"attachment {filename!r} skipped: {size} bytes over the limit of {self.max_bytes}"
            )
            return True
        return False

    def _add_bytes(
        self, data: bytes, filename: str, ctype: str, cid: str | None, inline: bool
    ) -> None:
        if self._too_big(len(data), filename):
            return
        sha = self.blobs.put(data)
        self.refs.append(AttachmentRef(filename, ctype, len(data), sha, cid, inline))

    def _add_base64(
        self,
        pieces: Callable[[], Iterable[str]],
        filename: str,
        ctype: str,
        cid: str | None,
        inline: bool,
    ) -> None:
        """``pieces`` gives the encoded text in slices (a fresh iterator on each call)."""
        # The encoded length only bounds the size; count exactly before refusing.
        if (
            self.max_bytes is not None
            and sum(len(p) for p in pieces()) * 3 // 4 > self.max_bytes
            and self._too_big(sum(len(c) for c in _base64_chunks(pieces())), filename)
        ):
            return
        sha, size = self.blobs.put_stream(_base64_chunks(pieces()))
        self.refs.append(AttachmentRef(filename, ctype, size, sha, cid, inline))

    def _add_tnef(self, data: bytes) -> bool:
        """Store the files inside a TNEF container; False when it holds nothing usable."""
        try:
            import tnefparse

            tnef = tnefparse.TNEF(data)
            files = [(_tnef_name(a, i), a.data) for i, a in enumerate(tnef.attachments, 1)]
            html = tnef.htmlbody
        except Exception as exc:  # tnefparse raises many kinds on damaged containers
            self.defects.append(f"winmail.dat could not be read: {type(exc).__name__}")
            return False
        files = [(name, body) for name, body in files if isinstance(body, bytes)]
        if isinstance(html, bytes):
            html = html.decode("utf-8", "replace")
        if isinstance(html, str) and html.strip():
            self.tnef_html = html
        if not files and self.tnef_html is None:
            return False
        for name, body in files:
            ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
            self._add_bytes(body, name, ctype, None, False)
        return True


def _tnef_name(attachment: object, index: int) -> str:
    name = ""
    try:
        name = attachment.long_filename() or ""  # type: ignore[attr-defined]
    except Exception:
        name = getattr(attachment, "name", "") or ""
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    return safe_filename(name.strip("\x00")) or f"attachment-{index}"


def _payload_text(part: Message) -> str:
    payload = part.get_payload()
    return payload if isinstance(payload, str) else ""


def _base64_chunks(pieces: Iterable[str]) -> Iterator[bytes]:
    carry = ""
    for text in pieces:
        for start in range(0, len(text), _CHUNK):
            piece = carry + _NOT_BASE64.sub("", text[start : start + _CHUNK])
            cut = len(piece) - len(piece) % 4
            carry = piece[cut:]
            if cut:
                yield binascii.a2b_base64(piece[:cut])
    if carry.rstrip("="):
        # A truncated final quantum: decode what is there rather than lose the tail.
        padded = carry + "=" * (-len(carry) % 4)
        try:
            yield binascii.a2b_base64(padded)
        except binascii.Error:
            return


def _decoded(part: Message) -> bytes | None:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        return None
    return data if isinstance(data, bytes) else None


def content_id(part: Message) -> str | None:
    value = part.get("Content-ID")
    if not value:
        return None
    cid = str(value).strip().strip("<>").strip()
    return cid or None


def safe_filename(name: str) -> str:
    """The last path component, without control or bidi-format characters (which disguise
    ``invoice\u202efdp.exe`` as ``invoiceexe.pdf``), at most 255 characters, extension kept."""
    name = PureWindowsPath(PurePosixPath(name).name).name
    name = _UNSAFE_NAME.sub("_", name)
    name = "".join("_" if unicodedata.category(ch) in ("Cf", "Cs") else ch for ch in name)
    name = name.strip().strip(".")
    if len(name) > MAX_NAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        ext = dot + ext if dot and len(ext) <= 16 else ""
        name = (stem if ext else name)[: MAX_NAME_CHARS - len(ext)] + ext
    return name


def _raw_8bit_filename(part: Message) -> str | None:
    """A name sent as raw 8-bit bytes (UTF-8 or cp1252), which compat32 turns into U+FFFD."""
    probe = Message()
    for key, value in part.raw_items():
        if key.lower() in ("content-disposition", "content-type"):
            probe[key] = text_from_header(str(value))
    try:
        name = probe.get_filename() or probe.get_param("name")
    except Exception:
        return None
    return name if isinstance(name, str) else None


def part_filename(part: Message, content_type: str, index: int) -> str:
    raw: str | None = None
    try:
        raw = part.get_filename() or part.get_param("name")  # type: ignore[assignment]
    except Exception:
        raw = None
    if isinstance(raw, tuple):  # an RFC 2231 value the stdlib could not collapse
        raw = raw[2]
    if raw and "\ufffd" in raw:
        raw = _raw_8bit_filename(part) or raw
    name = safe_filename(decode_words(str(raw))) if raw else ""
    if name:
        return name
    if content_type == "message/rfc822":
        return f"message-{index}.eml"
    ext = mimetypes.guess_extension(content_type) or (
        ".txt" if content_type.startswith("text/") else ".bin"
    )
    return f"attachment-{index}{ext}"
