"""Build the bytes of an outgoing message with the headers that keep threads intact.

Every message we send has a Message-ID we sign and store, In-Reply-To/References to the
thread, Reply-To with the ticket's signed reply address and the ticket tag in the subject;
automatic mail also carries the RFC 3834 and Microsoft headers that stop auto-responders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

MAX_REFERENCES = 20  # long threads: keep the first id and the newest ones (RFC 5322 3.6.4)


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


def build_message(mail: OutgoingMail, now: datetime) -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = HeaderAddress(
        display_name=_single_line("From", mail.from_name), addr_spec=mail.from_address
    )
    msg["To"] = ", ".join(mail.to)
    if mail.cc:
        msg["Cc"] = ", ".join(mail.cc)
    msg["Subject"] = _single_line("Subject", mail.subject)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<{mail.message_id}>"
    if mail.reply_to:
        msg["Reply-To"] = mail.reply_to
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
        msg[name] = _single_line(name, value)
    msg.set_content(mail.text)
    if mail.html:
        msg.add_alternative(mail.html, subtype="html")
    return msg.as_bytes()
