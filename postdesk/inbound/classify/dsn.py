"""RFC 3464 delivery status notifications: per-recipient fields of message/delivery-status."""

from __future__ import annotations

import re
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32

from postdesk.inbound.classify.result import FailedRecipient
from postdesk.inbound.decode import decode_bytes
from postdesk.inbound.header_fields import first_message_id

STATUS_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_REPLY_RE = re.compile(r"(?<![\d.\-])([245]\d\d)(?![\d.])")
_STATUS_TYPES = {"message/delivery-status", "message/global-delivery-status"}
_HEADER_TYPES = {"text/rfc822-headers", "message/rfc822-headers", "message/global-headers"}
_MESSAGE_TYPES = {"message/rfc822", "message/global"}


def _blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [b for b in payload if isinstance(b, Message)]
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    text = decode_bytes(data if isinstance(data, bytes) else b"").replace("\r\n", "\n")
    parser = HeaderParser(policy=compat32)
    return [parser.parsestr(block.strip()) for block in re.split(r"\n\s*\n", text) if block.strip()]


def _field(block: Message, *names: str) -> str:
    for name in names:
        try:
            value = block.get(name)
        except Exception:
            value = None
        if value:
            return " ".join(str(value).split())
    return ""


def _address(value: str) -> str:
    addr = value.split(";", 1)[1] if ";" in value else value
    return addr.strip().strip("<>").strip().lower()


def status_of(block_status: str, diagnostic: str) -> str:
    for text in (block_status, diagnostic):
        m = STATUS_RE.search(text)
        if m:
            return m.group(0)
    m = _REPLY_RE.search(diagnostic)
    return m.group(1) if m else ""


def status_parts(mime: Message) -> list[Message]:
    return [p for p in _walk(mime) if p.get_content_type() in _STATUS_TYPES]


def recipients(mime: Message) -> list[FailedRecipient]:
    """Failed or delayed recipients from every delivery-status part (delivered ones skipped)."""
    found: dict[str, FailedRecipient] = {}
    for part in status_parts(mime):
        for block in _blocks(part):
            rcpt = _field(block, "Final-Recipient", "Original-Recipient", "X-Actual-Recipient")
            if not rcpt or "@" not in rcpt:
                continue
            action = _field(block, "Action").lower().split(" ")[0]
            status = status_of(_field(block, "Status"), _field(block, "Diagnostic-Code"))
            if action in ("delivered", "relayed", "expanded") or status.startswith("2"):
                continue
            if action == "delayed":
                permanent = False
            elif status:
                permanent = status.startswith("5")
            else:
                permanent = action == "failed"
            address = _address(rcpt)
            found.setdefault(address, FailedRecipient(address, status, permanent))
    return list(found.values())


def returned_message_id(mime: Message) -> str | None:
    """The Message-ID of the returned message or of its returned headers."""
    for part in _walk(mime):
        ctype = part.get_content_type()
        if ctype in _MESSAGE_TYPES:
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                mid = first_message_id(_field(inner[0], "Message-ID"))
                if mid:
                    return mid
        elif ctype in _HEADER_TYPES:
            for block in _blocks(part):
                mid = first_message_id(_field(block, "Message-ID"))
                if mid:
                    return mid
    return None


def _walk(mime: Message, depth: int = 0) -> list[Message]:
    """Parts without descending into returned messages (their own parts are not the report)."""
    out = [mime]
    if depth > 20 or mime.get_content_type() in _MESSAGE_TYPES | _STATUS_TYPES:
        return out
    payload = mime.get_payload()
    if isinstance(payload, list):
        for sub in payload:
            if isinstance(sub, Message):
                out.extend(_walk(sub, depth + 1))
    return out
