"""The parsed form of one received email: an immutable value every later stage reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Address:
    email: str  # lowercased addr-spec
    name: str = ""

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


@dataclass(frozen=True, slots=True)
class Envelope:
    """What the transport told us: SMTP MAIL FROM / RCPT TO, or the IMAP mailbox it came from."""

    mail_from: str
    rcpt_to: tuple[str, ...]
    source: str = "smtp"  # smtp | lmtp | ingest | imap:<name>
    authenticated: bool = False  # an authenticated SMTP session or a trusted relay


@dataclass(frozen=True, slots=True)
class AttachmentRef:
    """An attachment already written to the blob store."""

    filename: str
    content_type: str
    size: int
    sha256: str
    content_id: str | None = None
    inline: bool = False


@dataclass(frozen=True, slots=True)
class InboundMessage:
    message_id: str  # without angle brackets; synthesised from the hash when missing
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    from_addr: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    subject: str
    date: datetime | None
    text: str  # the whole text body (from HTML when there is no text part)
    text_new: str  # what the sender wrote: quotes and signature cut
    html: str | None  # sanitised with nh3; None when the mail had no HTML
    attachments: tuple[AttachmentRef, ...]
    headers: tuple[tuple[str, str], ...]  # every header, decoded, in order (for classification)
    raw_sha256: str
    size: int
    defects: tuple[str, ...] = field(default=())

    def header(self, name: str) -> str | None:
        """The first value of a header, case-insensitively."""
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [value for key, value in self.headers if key.lower() == lname]
