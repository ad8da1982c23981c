"""The next hop for outgoing mail: an SMTP relay (aiosmtplib), or a local Maildir sink.

``POSTDESK_RELAY_URL`` picks the relay: ``smtp://host:25`` (STARTTLS when offered),
``smtp+starttls://`` (STARTTLS required), ``smtps://host:465`` (implicit TLS), with optional
``user:password@``. Unset, mail goes to ``<data_dir>/outbox-sink``, a Maildir that
``postdesk sink list`` shows and any mail client can open.
"""

from __future__ import annotations

import asyncio
import logging
import mailbox
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiosmtplib

from postdesk.contracts import PermanentFailure, TemporaryFailure, Transport
from postdesk.gateway.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RelayConfig:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    implicit_tls: bool = False
    starttls: bool | None = None  # None: use it when the server offers it
    timeout: float = 60.0

    @classmethod
    def from_url(cls, url: str) -> RelayConfig:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("smtp", "smtps", "smtp+starttls"):
            raise ValueError(
                f"relay URL scheme must be smtp, smtps or smtp+starttls, not {scheme!r}"
            )
        if not parts.hostname:
            raise ValueError("relay URL needs a host, e.g. smtp://mail.example.com:587")
        default_port = 465 if scheme == "smtps" else 25
        return cls(
            host=parts.hostname,
            port=parts.port or default_port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=scheme == "smtps",
            starttls=True if scheme == "smtp+starttls" else None,
        )


class RelayTransport:
    def __init__(self, config: RelayConfig) -> None:
        self.config = config

    async def send(self, raw: bytes, mail_from: str, recipients: list[str]) -> None:
        c = self.config
        try:
            refused, _reply = await aiosmtplib.send(
                raw,
                sender=mail_from,
                recipients=recipients,
                hostname=c.host,
                port=c.port,
                username=c.username,
                password=c.password,
                use_tls=c.implicit_tls,
                start_tls=c.starttls,
                timeout=c.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
            if all(500 <= code < 600 for code in codes):
                raise PermanentFailure(f"every recipient refused: {detail}") from exc
            raise TemporaryFailure(f"recipients refused: {detail}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            failure = PermanentFailure if 500 <= exc.code < 600 else TemporaryFailure
            raise failure(f"relay answered {exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TemporaryFailure(f"relay {c.host}:{c.port} unreachable: {exc}") from exc
        if refused:
            # The others accepted it, so the message counts as sent; the refused ones are logged.
            log.warning(
                "relay refused some recipients of a sent message: %s",
                "; ".join(
                    f"{rcpt}: {reply.code} {reply.message}" for rcpt, reply in refused.items()
                ),
            )


class MaildirTransport:
    """Writes each message into a Maildir with the envelope in two headers on top."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def send(self, raw: bytes, mail_from: str, recipients: list[str]) -> None:
        await asyncio.to_thread(self._deliver, raw, mail_from, recipients)

    def _deliver(self, raw: bytes, mail_from: str, recipients: list[str]) -> None:
        envelope = f"Return-Path: <{mail_from}>\r\nX-Original-To: {', '.join(recipients)}\r\n"
        try:
            box = mailbox.Maildir(self.path, create=True)
            box.add(envelope.encode() + raw)
        except OSError as exc:
            raise TemporaryFailure(f"cannot write to the sink {self.path}: {exc}") from exc


def transport_from_settings(settings: Settings) -> Transport:
    if settings.relay_url is not None:
        return RelayTransport(RelayConfig.from_url(settings.relay_url.get_secret_value()))
    return MaildirTransport(settings.sink_dir)


@dataclass(frozen=True, slots=True)
class SinkEntry:
    key: str
    received: float
    to: str
    subject: str
    message_id: str


def list_sink(path: Path) -> list[SinkEntry]:
    """What the local sink holds, oldest first (for ``postdesk sink list`` and tests)."""
    if not path.exists():
        return []
    box = mailbox.Maildir(path, create=False)
    parser = BytesHeaderParser(policy=default_policy)
    entries = []
    for key in box.iterkeys():
        with box.get_file(key) as fh:
            headers = parser.parse(fh)  # type: ignore[arg-type]
        msg = box.get_message(key)
        entries.append(
            SinkEntry(
                key,
                msg.get_date(),
                str(headers.get("X-Original-To", "")),
                str(headers.get("Subject", "")),
                str(headers.get("Message-ID", "")),
            )
        )
    return sorted(entries, key=lambda e: e.received)


def read_sink_message(path: Path, key: str) -> bytes:
    return mailbox.Maildir(path, create=False).get_bytes(key)
