"""Durable receive: how every adapter (SMTP, LMTP, IMAP, ``ingest``) stores a message.

``receive`` commits an inbox row with the raw bytes, and only then returns; the adapter may
acknowledge (250, IMAP flag) after that. A message up to ``INLINE_MAX`` bytes (nearly all
mail) is kept in the row itself, so that one commit makes row and bytes durable; a larger
one goes to the blob store first (written, fsync'd), and the row names it by hash. The IMAP
poller streams every message to the blob store. ``record`` writes the row
in a transaction of the caller's: the SMTP path processes a new message in the same one
(``Pipeline.receive_and_process``) and answers after its commit. A redelivery of the same
bytes, or of the same Message-ID from the same sender, is recognised and recorded, never
stored twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from typing import Literal

from sqlalchemy import bindparam, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from postdesk.contracts import BlobStore
from postdesk.inbound.decode import strip_controls
from postdesk.inbound.message import Envelope
from postdesk.store.db import Database
from postdesk.store.direct import insert_persistent, insert_rows, insert_unless_conflict
from postdesk.store.enums import InboxState
from postdesk.store.models import InboxArrival, InboxItem, Ticket
from postdesk.store.prepared import Prepared

Outcome = Literal["new", "redelivery", "duplicate"]


@dataclass(frozen=True, slots=True)
class ReceiveResult:
    inbox_id: int
    outcome: Outcome  # new: to be processed; redelivery: same bytes; duplicate: same id+sender
    original_id: int | None = None  # for duplicates and redeliveries: the first arrival


@dataclass(frozen=True, slots=True)
class QuickHeaders:
    message_id: str  # without brackets, lowercased; synthesised from the hash when missing
    sender: str


def quick_headers(raw: bytes, content_hash: str) -> QuickHeaders:
    """Message-ID and From from the header block only; never raises on broken headers."""
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    head = raw if end < 0 else raw[: end + 2]
    message_id = sender = ""
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(head[: 256 * 1024])
        message_id = str(headers.get("Message-ID") or "").strip()
        addresses = getaddresses([str(headers.get("From") or "")])
        sender = next((a for _, a in addresses if "@" in a), "")
    except Exception:
        pass
    message_id = strip_controls(message_id).strip().strip("<>").strip().lower()[:900]
    if not message_id or " " in message_id:
        message_id = synthetic_message_id(content_hash)
    return QuickHeaders(message_id, strip_controls(sender).strip().lower()[:320])


def synthetic_message_id(content_hash: str) -> str:
    return f"missing.{content_hash[:32]}@postdesk.invalid"


# Both unique lookups in one statement (each side is an index lookup): the same bytes (a
# redelivery) win over the same Message-ID from the same sender (a duplicate).
_SEEN = Prepared(
    select(InboxItem.id, InboxItem.content_hash == bindparam("hash")).where(
        or_(InboxItem.content_hash == bindparam("hash"), InboxItem.dedupe_key == bindparam("key"))
    )
)


def dedupe_key(message_id: str, sender: str) -> str:
    return hashlib.sha256(f"{message_id}\0{sender}".encode()).hexdigest()


INLINE_MAX = 256 * 1024  # raw messages up to this size are kept in their inbox row


def keep(blobs: BlobStore, raw: bytes) -> tuple[str, bytes | None]:
    """The content hash of ``raw``, and the bytes to keep in the inbox row: None when the
    message is too large for that and has been written to the blob store instead."""
    if len(raw) <= INLINE_MAX:
        return hashlib.sha256(raw).hexdigest(), raw
    return blobs.put(raw), None


def raw_message(blobs: BlobStore, content_hash: str, inline: bytes | None) -> bytes:
    """The bytes of a stored message: those kept in its row (``InboxItem.raw``), else the
    blob store's."""
    return inline if inline is not None else blobs.get(content_hash)


def receive(db: Database, blobs: BlobStore, raw: bytes, envelope: Envelope) -> ReceiveResult:
    """Store ``raw`` durably and return what it was. Raises only if nothing could be stored."""
    content_hash, inline = keep(blobs, raw)
    quick = quick_headers(raw, content_hash)
    for attempt in range(3):
        try:
            with db.transaction() as session:
                return record(session, content_hash, quick, len(raw), envelope, raw=inline)[0]
        except IntegrityError:
            # Another process stored the same message between our SELECT and INSERT: look again.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def record(
    session: Session,
    content_hash: str,
    quick: QuickHeaders,
    size: int,
    env: Envelope,
    *,
    processing_as: str | None = None,
    raw: bytes | None = None,
    opens_ticket: bool = False,
) -> tuple[ReceiveResult, InboxItem | None]:
    """Write the inbox row (or the arrival of a redelivery) for a received message; for a new
    message, also return its row. ``raw``: the bytes to keep in the row (``keep``), None when
    they are in the blob store under ``content_hash``. ``processing_as``: the caller
    processes a new row in this same transaction, as this classification (so the row is
    written once, already counted). ``opens_ticket``: it surely does; the row's INSERT then
    takes the ticket's number too (PostgreSQL), and only when it writes the row."""
    key = dedupe_key(quick.message_id, quick.sender)

    def row(first: int | None) -> InboxItem:
        item = InboxItem(
            content_hash=content_hash,
            message_id=quick.message_id,
            sender=quick.sender,
            dedupe_key=None if first else key,
            source=env.source,
            envelope_from=env.mail_from[:320],
            envelope_to=list(env.rcpt_to),
            authenticated=env.authenticated,
            size=size,
            state=InboxState.DUPLICATE if first else InboxState.RECEIVED,
            duplicate_of=first,
            raw=raw,
        )
        if processing_as is not None and not first:
            item.attempts, item.classification = 1, processing_as
        return item

    # Most messages are new: written at once, unless a unique key says we have seen them.
    new = insert_unless_conflict(session, row(None), also=Ticket if opens_ticket else None)
    if new is not None:
        return ReceiveResult(new.id, "new"), new
    seen = _SEEN.all(session, {"hash": content_hash, "key": key})
    same_bytes = next((row_id for row_id, same in seen if same), None)
    if same_bytes is not None:
        arrival = {"inbox_id": same_bytes, "source": env.source, "envelope_to": list(env.rcpt_to)}
        insert_rows(session, InboxArrival, [arrival])
        return ReceiveResult(same_bytes, "redelivery", same_bytes), None
    if not seen:  # the conflicting row went away meanwhile: write ours (or meet the next one)
        new = insert_persistent(session, row(None))
        return ReceiveResult(new.id, "new"), new
    duplicate = insert_persistent(session, row(seen[0][0]))
    return ReceiveResult(duplicate.id, "duplicate", seen[0][0]), None
