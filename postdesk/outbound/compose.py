"""Build the bytes of an outgoing message with the headers that keep threads intact.

Every message we send has a Message-ID we sign and store, In-Reply-To/References to the
thread, Reply-To with the ticket's signed reply address and the ticket tag in the subject;
automatic mail also carries the RFC 3834 and Microsoft headers that stop auto-responders.
"""

from __future__ import annotations

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
    if "\r" in value or "\n" in value:
        raise HeaderError(f"{name} contains a line break")
    return value


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


def build_message(mail: OutgoingMail, now: datetime) -> bytes:
    msg: Message
    if mail.html:
        msg = MIMEMultipart("alternative")
        msg.attach(MIMEText(mail.text, "plain", _UTF8_QP))  # type: ignore[arg-type]
        msg.attach(MIMEText(mail.html, "html", _UTF8_QP))  # type: ignore[arg-type]
    else:
        msg = MIMEText(mail.text, "plain", _UTF8_QP)  # type: ignore[arg-type]
    if mail.attachments:
        msg = _with_attachments(msg, mail.attachments)
    msg["From"] = formataddr((_single_line("From", mail.from_name), mail.from_address), "utf-8")
    msg["To"] = ", ".join(_single_line("To", a) for a in mail.to)
    if mail.cc:
        msg["Cc"] = ", ".join(_single_line("Cc", a) for a in mail.cc)
    msg["Subject"] = _encoded(_single_line("Subject", mail.subject))  # type: ignore[assignment]
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<{mail.message_id}>"
    if mail.reply_to:
        msg["Reply-To"] = _single_line("Reply-To", mail.reply_to)
    if mail.in_reply_to:
        msg["In-Reply-To"] = f"<{mail.in_reply_to}>"
    if mail.references:
        msg["References"] = " ".join(f"<{r}>" for r in mail.references)
    if mail.automatic:
        msg["Auto-Submitted"] = "auto-replied" if mail.kind == "ack" else "auto-generated"
        msg["X-Auto-Response-Suppress"] = "All"
        msg["Precedence"] = "bulk"
    if mail.ticket_id is not None:
        msg["X-Postdesk-Ticket"] = str(mail.ticket_id)
    for name, value in mail.extra_headers:
        msg[name] = _encoded(_single_line(name, value))  # type: ignore[assignment]
    return msg.as_bytes(policy=_CRLF)
