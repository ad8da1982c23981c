"""Build the bytes of an outgoing message with the headers that keep threads intact.

Every message we send has a Message-ID we sign and store, In-Reply-To/References to the
thread, Reply-To with the ticket's signed reply address and the ticket tag in the subject;
automatic mail also carries the RFC 3834 and Microsoft headers that stop auto-responders.
"""

from __future__ import annotations

import binascii
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.charset import QP, Charset
from email.encoders import encode_base64
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr

# The legacy (compat32) API builds a message several times faster than EmailMessage's header
# registry, which dominated the cost of an acknowledgement; headers are encoded here instead.
# MIMEText takes a Charset object at run time (typeshed knows only names): hence the ignores.
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP  # readable in the raw form and 7-bit safe for any relay
_CRLF = compat32.clone(linesep="\r\n")

MAX_REFERENCES = 20  # long threads: keep the first id and the newest ones (RFC 5322 3.6.4)


@dataclass(frozen=True, slots=True)
class OutgoingAttachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    kind: str  # ack | reply | notification | bounce-notice | ...
    ticket_id: int | None
    from_address: str
    from_name: str
    to: tuple[str, ...]
    subject: str
    text: str
    message_id: str  # without brackets; see threading.tokens.make_message_id
    html: str | None = None
    cc: tuple[str, ...] = ()
    reply_to: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    automatic: bool = True
    extra_headers: tuple[tuple[str, str], ...] = field(default=())
    attachments: tuple[OutgoingAttachment, ...] = ()

    @property
    def recipients(self) -> list[str]:
        return list(dict.fromkeys(self.to + self.cc))


class HeaderError(ValueError):
    """A value that cannot go into a header (a newline in a subject, say)."""


def _single_line(name: str, value: str) -> str:
    """``value`` as one header line: a CR or LF is refused (it would start a new header); any
    other control or line-separator character becomes a space, since parsers break lines on
    them too (a display name with \\x1e cut the From header short)."""
    if "\r" in value or "\n" in value:
        raise HeaderError(f"{name} contains a line break")
    if not value.isprintable():
        value = "".join(" " if _breaks_lines(c) else c for c in value)
    return value


def _breaks_lines(c: str) -> bool:
    return c != "\t" and unicodedata.category(c) in ("Cc", "Zl", "Zp")


def thread_references(references: Sequence[str], parent: str | None) -> tuple[str, ...]:
    """References for a reply: the parent's chain plus the parent, trimmed for long threads."""
    chain = [r for r in references if r]
    if parent and parent not in chain:
        chain.append(parent)
    chain = list(dict.fromkeys(chain))
    if len(chain) > MAX_REFERENCES:
        chain = chain[:1] + chain[-(MAX_REFERENCES - 1) :]
    return tuple(chain)


def _encoded(value: str) -> str | Header:
    return value if value.isascii() else Header(value, "utf-8")


def _with_attachments(body: Message, files: Sequence[OutgoingAttachment]) -> Message:
    mixed = MIMEMultipart("mixed")
    mixed.attach(body)
    for f in files:
        maintype, _, subtype = f.content_type.partition("/")
        part = MIMEBase(maintype or "application", subtype or "octet-stream")
        part.set_payload(f.data)
        encode_base64(part)
        part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", f.filename))
        mixed.attach(part)
    return mixed


def _headers(mail: OutgoingMail, now: datetime) -> list[tuple[str, str | Header]]:
    """The message's own headers, in order, encoded for the wire (non-ASCII as RFC 2047)."""
    out: list[tuple[str, str | Header]] = [
        ("From", formataddr((_single_line("From", mail.from_name), mail.from_address), "utf-8")),
        ("To", ", ".join(_single_line("To", a) for a in mail.to)),
    ]
    if mail.cc:
        out.append(("Cc", ", ".join(_single_line("Cc", a) for a in mail.cc)))
    out.append(("Subject", _encoded(_single_line("Subject", mail.subject))))
    out.append(("Date", format_datetime(now)))
    out.append(("Message-ID", f"<{mail.message_id}>"))
    if mail.reply_to:
        out.append(("Reply-To", _single_line("Reply-To", mail.reply_to)))
    if mail.in_reply_to:
        out.append(("In-Reply-To", f"<{mail.in_reply_to}>"))
    if mail.references:
        out.append(("References", " ".join(f"<{r}>" for r in mail.references)))
    if mail.automatic:
        out.append(("Auto-Submitted", "auto-replied" if mail.kind == "ack" else "auto-generated"))
        out.append(("X-Auto-Response-Suppress", "All"))
        out.append(("Precedence", "bulk"))
    if mail.ticket_id is not None:
        out.append(("X-Postdesk-Ticket", str(mail.ticket_id)))
    for name, value in mail.extra_headers:
        out.append((name, _encoded(_single_line(name, value))))
    return out


def build_message(mail: OutgoingMail, now: datetime) -> bytes:
    if mail.attachments:
        return _library_message(mail, now)
    return _direct_message(mail, now)


def _library_message(mail: OutgoingMail, now: datetime) -> bytes:
    """The message built with the standard library's MIME classes (attachments need them)."""
    msg: Message
    if mail.html:
        msg = MIMEMultipart("alternative")
        msg.attach(MIMEText(mail.text, "plain", _UTF8_QP))  # type: ignore[arg-type]
        msg.attach(MIMEText(mail.html, "html", _UTF8_QP))  # type: ignore[arg-type]
    else:
        msg = MIMEText(mail.text, "plain", _UTF8_QP)  # type: ignore[arg-type]
    if mail.attachments:
        msg = _with_attachments(msg, mail.attachments)
    for name, value in _headers(mail, now):
        msg[name] = value  # type: ignore[assignment]
    return msg.as_bytes(policy=_CRLF)


# Every acknowledgement and notification is text, or text and HTML: written directly they
# cost a fifth of what the library's generator takes (it folds every header through
# ``email.header`` and compiles a regex per boundary). The headers are folded exactly as the
# generator would fold them (a short ASCII value needs no folding), the bodies are
# quoted-printable from the C encoder, and the boundary starts with "=_", which never occurs
# in quoted-printable text. tests/outbound/test_compose.py compares both builds.
def _direct_message(mail: OutgoingMail, now: datetime) -> bytes:
    lines: list[str] = []
    if mail.html:
        boundary = f"=_{secrets.token_hex(10)}"
        lines.append(f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n')
        lines.append("MIME-Version: 1.0\r\n")
    else:
        lines.append(_TEXT_PLAIN)
        lines.append("MIME-Version: 1.0\r\n")
        lines.append(_QP_HEADER)
    lines.extend(_fold(name, value) for name, value in _headers(mail, now))
    lines.append("\r\n")
    if mail.html:
        for content_type, body in ((_TEXT_PLAIN, mail.text), (_TEXT_HTML, mail.html)):
            lines.append(f"--{boundary}\r\n{content_type}{_QP_HEADER}\r\n")
            lines.append(_quoted_printable(body))
            lines.append("\r\n")
        lines.append(f"--{boundary}--\r\n")
    else:
        lines.append(_quoted_printable(mail.text))
    return "".join(lines).encode("ascii")


_TEXT_PLAIN = 'Content-Type: text/plain; charset="utf-8"\r\n'
_TEXT_HTML = 'Content-Type: text/html; charset="utf-8"\r\n'
_QP_HEADER = "Content-Transfer-Encoding: quoted-printable\r\n"
_MAX_LINE = 78  # the generator's (compat32) fold width


def _fold(name: str, value: str | Header) -> str:
    if (
        isinstance(value, str)
        and value.isascii()
        and len(name) + 2 + len(value) <= _MAX_LINE
        and value == " ".join(value.split())  # nothing the folding would touch
    ):
        return f"{name}: {value}\r\n"
    return _CRLF.fold(name, value)  # type: ignore[arg-type]  # compat32 folds Header too


def _quoted_printable(text: str) -> str:
    data = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    return binascii.b2a_qp(data, istext=True).decode("ascii").replace("\n", "\r\n")
