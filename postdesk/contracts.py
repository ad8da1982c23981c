"""The seams between the parts, as Protocols: each can be swapped and faked in tests."""

from __future__ import annotations

from collections.abc import Iterable
from typing import BinaryIO, Protocol


class BlobStore(Protocol):
    """Content-addressed bytes: raw messages and attachments, each kept once by SHA-256."""

    def put(self, data: bytes) -> str:
        """Store durably (fsync'd before returning) and return the hex SHA-256."""
        ...

    def put_stream(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Store from chunks without holding them all; return (sha256, size)."""
        ...

    def get(self, sha256: str) -> bytes: ...

    def open(self, sha256: str) -> BinaryIO: ...

    def exists(self, sha256: str) -> bool: ...


class Transport(Protocol):
    """Hands one rendered message to the next hop (an SMTP relay, or a local Maildir sink)."""

    async def send(self, raw: bytes, mail_from: str, recipients: list[str]) -> None:
        """Raise ``TemporaryFailure`` to retry later, ``PermanentFailure`` to give up."""
        ...


class TemporaryFailure(Exception):
    """The next hop could not take the message now; try again later."""


class PermanentFailure(Exception):
    """The next hop refused the message for good (e.g. 550 for every recipient)."""
