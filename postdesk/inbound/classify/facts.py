"""What every stage may look at: the parsed message, the raw bytes, the envelope, our keys.

The MIME tree is re-parsed from the raw bytes only when a stage asks for it (bounces need
the delivery-status and returned-message parts, which ``InboundMessage`` keeps as blobs).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from functools import cached_property

from postdesk.inbound import large_parts
from postdesk.inbound.message import InboundMessage

_DAEMON_LOCAL = re.compile(
    r"^(mailer[-_.]?daemon|mail[-_.]?daemon|post_?master|poostmaster|mail[-_.]?delivery"
    r"(?:[-_.]?(?:system|subsystem))?|mdaemon|smtp[-_.]?gateway|mmsc)$",
    re.I,
)


@dataclass
class Facts:
    msg: InboundMessage
    raw: bytes
    envelope_from: str
    keys: Sequence[bytes]

    @cached_property
    def mime(self) -> Message:
        # Without base64 runs over 1 MB: a bounce returning a 20 MB attachment stays small here.
        # The stages read status blocks, headers and notice text (never MBs of base64 lines),
        # not attachment bodies.
        cut = large_parts.cut_large_runs(self.raw, large_parts.MIN_RUN * 4)
        return BytesParser(policy=compat32).parsebytes(cut.data)

    def header(self, name: str) -> str:
        return (self.msg.header(name) or "").strip()

    @cached_property
    def null_sender(self) -> bool:
        """The envelope sender is empty (SMTP ``MAIL FROM:<>``), or Return-Path says ``<>``.

        ``envelope_from`` "" means the null sender: an adapter without an envelope (IMAP)
        should pass the Return-Path value instead.
        """
        if self.envelope_from.strip() in ("", "<>"):
            return True
        rp = self.msg.header_all("Return-Path")
        return bool(rp) and rp[0].strip() in ("<>", "")

    @cached_property
    def daemon_sender(self) -> bool:
        """From (or envelope) looks like a mail system, not a person."""
        candidates = [self.envelope_from]
        if self.msg.from_addr is not None:
            candidates.append(self.msg.from_addr.email)
        else:
            candidates.append(self.header("From"))
        for value in candidates:
            local = value.strip().strip("<>").split("@", 1)[0].strip()
            if local and _DAEMON_LOCAL.match(local):
                return True
        return False
