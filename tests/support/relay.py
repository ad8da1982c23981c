"""A capturing SMTP relay on loopback (aiosmtpd in the test's own loop): what postdesk sends."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.smtp import SMTP


@dataclass
class Captured:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)  # type: ignore[return-value]


@dataclass
class CapturingRelay:
    """Accepts everything unless told to answer with ``fail_with`` (e.g. "451 4.3.0 busy").

    Binds ``port`` (0: a free one); a stopped relay can be started again on its old port."""

    messages: list[Captured] = field(default_factory=list)
    fail_with: str | None = None
    port: int = 0
    _server: asyncio.base_events.Server | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        if self.fail_with:
            return self.fail_with
        self.messages.append(
            Captured(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.original_content or envelope.content,
            )
        )
        self._arrived.set()
        return "250 2.0.0 captured"

    async def start(self) -> CapturingRelay:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, decode_data=False, loop=loop), host="127.0.0.1", port=self.port
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Captured]:
        """Wait until ``count`` messages arrived; fail the test with what did arrive."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.messages) < count:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"relay got {len(self.messages)} messages, wanted {count}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout=min(remaining, 0.2))
        return self.messages
