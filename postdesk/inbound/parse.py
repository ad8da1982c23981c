"""Raw bytes → ``InboundMessage``: headers, bodies, sanitised HTML, attachments in the blob store.

The stdlib parser with the ``compat32`` policy is used because it never raises on header
access: values come back as plain strings (8-bit bytes kept as surrogates), and every
structured field is read by our own guarded helpers. ``policy.default`` builds header objects
lazily and raises on values such as ``To: unlisted-recipients:; (...)`` at access time;
mail-parser wraps the same stdlib parser but holds payloads several times over.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from email.generator import BytesGenerator
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32

from postdesk.contracts import BlobStore
from postdesk.gateway.receive import synthetic_message_id
from postdesk.inbound.attachments import AttachmentSink, content_id, safe_filename
from postdesk.inbound.decode import decode_bytes, header_text, strip_controls
from postdesk.inbound.header_fields import addresses, first_message_id, message_ids, parse_date
from postdesk.inbound.html import html_to_text, sanitize
from postdesk.inbound.large_parts import cut_large_runs
from postdesk.inbound.message import AttachmentRef, InboundMessage
from postdesk.inbound.reply_text import extract_new_text

_MAX_DEPTH = 30  # MIME nesting deeper than this is an attack or a loop, not a message
_BODY_TYPES = {"text/plain", "text/html"}
_MESSAGE_TYPES = {"message/rfc822", "message/global"}


class ParseError(Exception):
    """The bytes hold nothing usable as a message (no headers and no readable body)."""


@dataclass
class _Bodies:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)


def parse_message(
    raw: bytes, blobs: BlobStore, *, max_attachment_bytes: int | None = None
) -> InboundMessage:
    """Parse one received message. Raises ``ParseError`` only for bytes that are not mail."""
    if not raw or raw.isspace():  # (strip() would copy the whole message)
        raise ParseError("empty message")
    raw_sha256 = hashlib.sha256(raw).hexdigest()
    cut = cut_large_runs(raw)
    try:
        msg = BytesParser(policy=compat32).parsebytes(cut.data)
    except Exception as exc:  # compat32 is lenient; anything escaping it means garbage
        raise ParseError(f"unparseable: {type(exc).__name__}: {exc}") from exc
    headers = _decoded_headers(msg)
    if not headers and _looks_binary(raw):
        raise ParseError("no header fields and a binary body")

    bodies = _Bodies()
    sink = AttachmentSink(blobs, max_attachment_bytes, cut)
    _walk(msg, bodies, sink, 0)

    text = "\n\n".join(t for t in bodies.plain if t.strip())
    html_src = "\n".join(bodies.html) if bodies.html else sink.tnef_html
    html_src = strip_controls(html_src) if html_src is not None else None
    html = sanitize(html_src) if html_src is not None else None
    if not text.strip() and html_src:
        text = html_to_text(html_src)
    if not headers and not text.strip() and not sink.refs:
        raise ParseError("no header fields and no readable content")

    defects = _defects(msg) + bodies.defects + sink.defects
    return InboundMessage(
        message_id=first_message_id(_get(msg, "Message-ID")) or synthetic_message_id(raw_sha256),
        in_reply_to=message_ids(_get(msg, "In-Reply-To")),
        references=message_ids(_get(msg, "References")),
        from_addr=next(iter(addresses(_get_all(msg, "From"))), None),
        to=addresses(_get_all(msg, "To")),
        cc=addresses(_get_all(msg, "Cc")),
        reply_to=addresses(_get_all(msg, "Reply-To")),
        subject=header_text(_get(msg, "Subject") or ""),
        date=parse_date(_get(msg, "Date")),
        text=text,
        text_new=extract_new_text(text, html_src),  # quote markers live in class/id attributes
        html=html,
        attachments=_mark_inline(sink.refs, html_src),
        headers=headers,
        raw_sha256=raw_sha256,
        size=len(raw),
        defects=tuple(defects),
    )


def _mark_inline(refs: list[AttachmentRef], html: str | None) -> tuple[AttachmentRef, ...]:
    """Inline means shown inside the HTML: a cid image nothing refers to is an attachment."""
    body = (html or "").lower()
    return tuple(
        ref
        if not ref.inline or f"cid:{(ref.content_id or '').lower()}" in body
        else replace(ref, inline=False)
        for ref in refs
    )


def _walk(part: Message, bodies: _Bodies, sink: AttachmentSink, depth: int) -> None:
    if depth > _MAX_DEPTH:
        bodies.defects.append(f"MIME nesting deeper than {_MAX_DEPTH}: the rest was ignored")
        return
    ctype = _content_type(part)
    if ctype in _MESSAGE_TYPES or (ctype.startswith("message/") and part.is_multipart()):
        _store_message_part(part, ctype, sink, bodies)
        return
    if part.is_multipart():
        payload = part.get_payload()
        for sub in payload if isinstance(payload, list) else []:
            if isinstance(sub, Message):
                _walk(sub, bodies, sink, depth + 1)
        return
    disposition = _disposition(part)
    has_name = bool(
        part.get_param("filename", header="content-disposition") or part.get_param("name")
    )
    if ctype in _BODY_TYPES and disposition != "attachment" and not has_name:
        sink.restore(part)
        body = _text_of(part)
        (bodies.plain if ctype == "text/plain" else bodies.html).append(body)
        return
    inline = ctype.startswith("image/") and disposition != "attachment" and bool(content_id(part))
    sink.add_part(part, ctype, inline)


def _store_message_part(part: Message, ctype: str, sink: AttachmentSink, bodies: _Bodies) -> None:
    """A forwarded or returned message (or a DSN status block) kept whole as an attachment."""
    data = _serialised_body(part)
    if data is not None and not data.strip():
        return  # an empty status block (seen in Gmail DSNs) is not worth an attachment
    if data is None:
        bodies.defects.append(f"a {ctype} part could not be re-serialised and was skipped")
        return
    body, cut = data, sink.cut

    def chunks() -> Iterable[bytes]:
        # Long runs go back in by slices, with the generator's line ends.
        return cut.restored_chunks(body, b"\n") if cut is not None and cut.spans else [body]

    if ctype in _MESSAGE_TYPES:
        inner = part.get_payload(0) if part.is_multipart() else None
        subject = header_text(_get(inner, "Subject") or "") if isinstance(inner, Message) else ""
        sink.add_chunks(chunks, _eml_name(subject, len(sink.refs) + 1), "message/rfc822")
    else:
        sink.add_chunks(chunks, f"{ctype.split('/', 1)[1]}.txt", ctype)


def _eml_name(subject: str, index: int) -> str:
    base = safe_filename(subject)[:80].strip()
    return f"{base}.eml" if base else f"message-{index}.eml"


def _serialised_body(part: Message) -> bytes | None:
    """The part's body as bytes (its own headers dropped), re-generated by the stdlib."""
    buf = io.BytesIO()
    try:
        BytesGenerator(buf, mangle_from_=False, policy=compat32).flatten(part)
    except Exception:
        return None
    data = buf.getvalue()
    for sep in (b"\r\n\r\n", b"\n\n"):
        cut = data.find(sep)
        if cut >= 0:
            return data[cut + len(sep) :]
    return data


def _text_of(part: Message) -> str:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if not isinstance(data, bytes):
        payload = part.get_payload()
        data = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""
    charset = None
    try:
        value = part.get_param("charset")
        charset = value if isinstance(value, str) else None
    except Exception:
        charset = None
    return strip_controls(decode_bytes(data, charset).replace("\r\n", "\n"))


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()
    except Exception:
        return "application/octet-stream"


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:
        return None


def _get(msg: Message | None, name: str) -> str | None:
    values = _get_all(msg, name)
    return values[0] if values else None


def _get_all(msg: Message | None, name: str) -> list[str]:
    """Raw values (8-bit bytes as surrogates): compat32's ``get`` would turn those into U+FFFD."""
    if msg is None:
        return []
    lname = name.lower()
    try:
        return [str(v) for k, v in msg.raw_items() if k.lower() == lname]
    except Exception:
        return []


def _decoded_headers(msg: Message) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for name, value in msg.raw_items():
        try:
            out.append((str(name).strip(), header_text(str(value))))
        except Exception:
            out.append((str(name).strip(), str(value)))
    return tuple(out)


def _defects(msg: Message) -> list[str]:
    found: list[str] = []
    try:
        for part in msg.walk():
            for defect in getattr(part, "defects", []):
                found.append(f"{type(defect).__name__}: {defect}".rstrip(": "))
    except RecursionError:
        found.append("MIME structure too deep to list every defect")
    return found


def _looks_binary(raw: bytes) -> bool:
    sample = raw[:4096]
    if b"\x00" in sample:
        return True
    controls = sum(1 for b in sample if b < 9 or 13 < b < 32)
    return controls > len(sample) // 10
