"""Bounces without a machine-readable report (qmail, Exim, old sendmail, Exchange, webmail).

The failed addresses are read from the human-readable notice, above the point where the
returned message starts, and each gets the status code found nearest after it.
"""

from __future__ import annotations

import re
from email.message import Message

from postdesk.inbound.classify.dsn import STATUS_RE
from postdesk.inbound.classify.result import FailedRecipient
from postdesk.inbound.decode import decode_bytes
from postdesk.inbound.header_fields import first_message_id
from postdesk.inbound.html import html_to_text

_MAX_TEXT = 64 * 1024
_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
)
_SMTP_CODE = re.compile(r"(?:^|[\s:(#\[\"'])([45][0-9]{2})(?=[\s\-.,;:)\]\"']|$)", re.M)
# Where the returned original begins: everything after it describes the original, not the failure.
_ORIGINAL_STARTS = re.compile(
    r"^(?:[-=_ ]*(?:this is a copy of|below this line is a copy|a copy of the original|"
    r"original message|the original message|returned message|the header of the original|"
    r"unsent message below|undelivered message|headers of the original|"
    r"message headers follow|included is a copy|original mail|forwarded message)"
    r"|(?:received|return-path|message-id|dkim-signature):\s)",
    re.I | re.M,
)
_TEMPORARY = re.compile(
    r"delayed|will (?:be )?retr|will (?:continue|keep) (?:to )?try|temporar|not yet been delivered|"
    r"still (?:trying|being retried)|deferred|try again later|warning:|has not been delivered yet",
    re.I,
)
_NOT_RECIPIENTS = re.compile(
    r"^(mailer[-_.]?daemon|postmaster|post_master|poostmaster|root|abuse|noreply|no-reply|"
    r"help|support[-_]?desk|mail[-_.]?delivery[-_.]?(?:system|subsystem)?)@",
    re.I,
)
_MESSAGE_ID_LINE = re.compile(r"^\s*(?:message-id|in-reply-to):\s*(<[^>\s]+>|\S+@\S+)", re.I | re.M)
_MESSAGE_TYPES = {"message/rfc822", "message/global"}
_LEAD = re.compile(r"^(?:['`]+|smtp=|rfc822;)", re.I)


def notice_text(mime: Message) -> str:
    """The bounce's own words: text parts outside any returned message (HTML as fallback)."""
    plain: list[str] = []
    html: list[str] = []
    _collect(mime, plain, html, 0)
    text = (
        "\n".join(plain)
        if any(p.strip() for p in plain)
        else "\n".join(html_to_text(h) for h in html)
    )
    return text[:_MAX_TEXT]


def _collect(part: Message, plain: list[str], html: list[str], depth: int) -> None:
    ctype = part.get_content_type()
    if depth > 20 or ctype in _MESSAGE_TYPES:
        return
    payload = part.get_payload()
    if isinstance(payload, list):
        for sub in payload:
            if isinstance(sub, Message):
                _collect(sub, plain, html, depth + 1)
        return
    if ctype not in ("text/plain", "text/html") or part.get_content_disposition() == "attachment":
        return
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    text = decode_bytes(data if isinstance(data, bytes) else b"", part.get_content_charset())
    (plain if ctype == "text/plain" else html).append(text.replace("\r\n", "\n"))


def failure_section(text: str) -> str:
    """The notice up to where the returned original begins."""
    m = _ORIGINAL_STARTS.search(text, 40)  # a notice never starts with the original
    return text[: m.start()] if m else text


def text_recipients(
    text: str, excluded: set[str], failed_header: list[str]
) -> list[FailedRecipient]:
    section = failure_section(text)
    hits: list[tuple[int, str]] = []
    for m in _ADDRESS.finditer(section):
        addr = _LEAD.sub("", m.group(0).strip(".")).lower()
        if addr in excluded or _NOT_RECIPIENTS.match(addr):
            continue
        hits.append((m.start(), addr))
    for value in failed_header:
        for addr in _ADDRESS.findall(value):
            if addr.lower() not in {a for _, a in hits}:
                hits.insert(0, (-1, addr.lower()))
    out: dict[str, FailedRecipient] = {}
    for i, (pos, addr) in enumerate(hits):
        if addr in out:
            continue
        if pos < 0:
            status = _code(section)
        else:
            end = next((p for p, a in hits[i + 1 :] if a != addr and p > pos), len(section))
            status = _code(section[pos : max(end, pos + 80)]) or _code(section)
        out[addr] = FailedRecipient(addr, status, _permanent(status, section))
    return list(out.values())


def _code(text: str) -> str:
    m = STATUS_RE.search(text)
    if m:
        return m.group(0)
    m = _SMTP_CODE.search(text)
    return m.group(1) if m else ""


def _permanent(status: str, text: str) -> bool:
    if status:
        return status.startswith("5")
    return not _TEMPORARY.search(text)


def message_id_in_text(text: str) -> str | None:
    """A Message-ID (or In-Reply-To) line quoted in the notice's returned part."""
    m = _MESSAGE_ID_LINE.search(text)
    return first_message_id(m.group(1)) if m else None
