"""The values a classification produces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

Kind = Literal["normal", "auto_reply", "bounce", "list", "loop"]


class FailedRecipient(NamedTuple):
    address: str  # lowercased
    status: str  # RFC 3463 code ("5.1.1"), a bare SMTP code ("550"), or "" when none was given
    permanent: bool


@dataclass(frozen=True, slots=True)
class BounceInfo:
    recipients: tuple[FailedRecipient, ...]  # (address, status, permanent) per failed recipient
    original_message_id: str | None  # the returned message's id, without brackets, lowercased
    report_type: str = "delivery-status"  # delivery-status | feedback-report | text


@dataclass(frozen=True, slots=True)
class Classification:
    kind: Kind
    reasons: tuple[str, ...]  # why, in the order the stages found it
    may_auto_respond: bool
    may_open_ticket: bool
    bounce: BounceInfo | None = None
