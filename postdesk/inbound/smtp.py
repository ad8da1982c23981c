"""The SMTP/LMTP listener: aiosmtpd owns the protocol, ``GatewayHandler`` owns the decisions.

The handler is thin: it checks recipients, hands the bytes to the durable receive function
and answers 250 only after that has committed. Failures answer 451 (try again), never 500:
aiosmtpd's default ``500 Error`` is a permanent bounce that also leaks the error text.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP
from aiosmtpd.smtp import Envelope as SmtpEnvelope
from aiosmtpd.smtp import Session as SmtpSession

from postdesk.contracts import TemporaryFailure
from postdesk.inbound.message import Envelope

log = logging.getLogger(__name__)

# The gateway's durable receive: stores the bytes, commits, returns (or raises;
# ``TemporaryFailure`` carries a reason that is safe to show the sender).
Receiver = Callable[[bytes, Envelope], Awaitable[Any]]

LINE_LENGTH_LIMIT = 64 * 1024  # RFC 5322 says 998, real mail is longer: never bounce it for that


class GatewaySMTP(SMTP):
    line_length_limit = LINE_LENGTH_LIMIT


class GatewayLMTP(LMTP):
    line_length_limit = LINE_LENGTH_LIMIT


def is_served(address: str, support_addresses: Sequence[str]) -> bool:
    """Ours: a support address, or a plus-address of one (reply/note/agent addresses)."""
    local, at, domain = address.strip().lower().rpartition("@")
    if not at:
        return False
    base_local = local.split("+", 1)[0]
    return f"{base_local}@{domain}" in support_addresses


class AddressSource(Protocol):
    """Where the served addresses come from (``gateway.support_addresses`` caches them)."""

    def fresh(self) -> Sequence[str] | None: ...  # None: stale, ask ``current`` off the loop

    def current(self) -> Sequence[str]: ...


class _Fixed:
    def __init__(self, addresses: Sequence[str]) -> None:
        self.addresses = tuple(a.lower() for a in addresses)

    def fresh(self) -> Sequence[str]:
        return self.addresses

    def current(self) -> Sequence[str]:
        return self.addresses


class GatewayHandler:
    def __init__(
        self,
        receiver: Receiver,
        support_addresses: Sequence[str] | AddressSource,
        *,
        lmtp: bool = False,
        trusted_networks: Sequence[str] = (),
    ) -> None:
        self.receiver = receiver
        self.addresses: AddressSource = (
            _Fixed(support_addresses)
            if isinstance(support_addresses, (list, tuple))
            else support_addresses  # type: ignore[assignment]
        )
        self.lmtp = lmtp
        self.trusted = [ipaddress.ip_network(n, strict=False) for n in trusted_networks]

    async def handle_RCPT(
        self,
        server: SMTP,
        session: SmtpSession,
        envelope: SmtpEnvelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        served = self.addresses.fresh()
        if served is None:  # the cache expired: the database is read in a thread, not the loop
            served = await asyncio.to_thread(self.addresses.current)
        if not is_served(address, served):
            return "550 5.1.1 Recipient address rejected: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: SmtpEnvelope) -> str:
        raw = envelope.original_content or envelope.content
        if not isinstance(raw, bytes):
            raw = str(raw).encode("utf-8", "surrogateescape")
        env = Envelope(
            mail_from=envelope.mail_from or "",
            rcpt_to=tuple(a.lower() for a in envelope.rcpt_tos),
            source="lmtp" if self.lmtp else "smtp",
            authenticated=self._trusted(session) or bool(getattr(session, "authenticated", False)),
        )
        try:
            await self.receiver(raw, env)
        except TemporaryFailure as exc:
            log.warning("asking the sender to retry: %s", exc)
            return self._reply(f"451 4.3.0 {exc}", len(envelope.rcpt_tos))
        except Exception:
            log.exception("durable receive failed; answering 451")
            return self._reply(
                "451 4.3.0 Temporary failure storing the message, try again later",
                len(envelope.rcpt_tos),
            )
        return self._reply("250 2.0.0 OK: queued", len(envelope.rcpt_tos))

    async def handle_exception(self, error: Exception) -> str:
        log.error("SMTP session error: %r", error)
        return "451 4.3.0 Temporary server error, try again later"

    def _reply(self, status: str, recipients: int) -> str:
        # LMTP (RFC 2033) wants one reply per recipient; we store once for all of them.
        if self.lmtp and recipients > 1:
            return "\r\n".join([status] * recipients)
        return status

    def _trusted(self, session: SmtpSession) -> bool:
        peer = session.peer
        if not self.trusted or not peer:
            return False
        host = peer[0] if isinstance(peer, tuple) else str(peer)
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)


async def start_server(
    handler: GatewayHandler,
    host: str,
    port: int,
    *,
    data_size_limit: int,
    reuse_port: bool = False,
) -> asyncio.base_events.Server:
    """Serve SMTP (or LMTP) inside the running loop; aiosmtpd's Controller would start its own."""
    loop = asyncio.get_running_loop()
    cls = GatewayLMTP if handler.lmtp else GatewaySMTP

    def factory() -> SMTP:
        return cls(
            handler,
            data_size_limit=data_size_limit,
            enable_SMTPUTF8=True,
            decode_data=False,
            ident="postdesk ESMTP",
            loop=loop,
        )

    return await loop.create_server(factory, host=host, port=port, reuse_port=reuse_port or None)
