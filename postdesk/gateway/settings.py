"""One typed settings object, read from ``POSTDESK_*`` variables and an optional file.

Every part receives the values it needs from here (through the composition root in
``gateway.app``); nothing reads the environment on its own.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Settings with defaults that serve a newcomer: SQLite in ./var, SMTP on 127.0.0.1:2525."""

    model_config = SettingsConfigDict(
        env_prefix="POSTDESK_",
        env_file=None,
        extra="ignore",
        validate_default=True,
    )

    data_dir: Path = Field(Path("./var"), description="database, blobs, mail sink, secret key")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; SQLite in data_dir when unset"
    )
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    smtp_lmtp: bool = Field(False, description="speak LMTP instead of SMTP on the listener")
    smtp_max_message_bytes: int = Field(
        30 * 1024 * 1024, description="552 above this size; `postdesk ingest` exits 65 (bounce)"
    )
    smtp_trusted_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="client networks whose mail counts as authenticated"
    )
    smtp_defer_failed_attempts: int = Field(
        3,
        description="answer 451 while processing a stored message fails, this many times; "
        "after that accept it and leave it failed in the inbox for an operator",
    )
    smtp_batch_max: int = Field(
        16,
        description="messages that arrived together are stored in one transaction, up to "
        "this many (1: one transaction each)",
    )
    parse_workers: int = Field(
        default_factory=lambda: 1 if (os.cpu_count() or 1) > 1 else 0,
        description="processes that parse SMTP/LMTP mail beside the thread that stores it "
        "(0: parse in that thread); default 1 on a machine with more than one core",
    )
    mailboxes_file: Path | None = Field(
        None, description="YAML list of IMAP mailboxes to poll (see README: IMAP mailboxes)"
    )
    rules_file: Path | None = Field(
        None, description="YAML rules (docs/rules.md); unset: the built-in default rules"
    )
    on_call: str | None = Field(
        None, description="the on-call agent's address, told of new tickets"
    )
    rules_tick_seconds: float = Field(60.0, description="how often the time-based rules run")
    web_host: str = "127.0.0.1"
    web_port: int = Field(8080, description="0 picks a free port")
    web_enabled: bool = Field(True, description="serve the web admin from `postdesk serve`")
    support_addresses: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["support@localhost"]
    )
    support_name: str = Field("Support", description="display name on outgoing mail")
    relay_url: SecretStr | None = Field(
        None, description="smtp://user:pass@host:port or smtps://...; unset writes to a Maildir"
    )
    secret_key: SecretStr | None = Field(None, description="signs reply addresses and Message-IDs")
    previous_secret_keys: list[SecretStr] = Field(
        default_factory=list, description="still accepted on reply addresses after a rotation"
    )
    reopen_window_days: int = Field(14, description="a reply within this reopens a resolved ticket")
    outbox_max_attempts: int = 12
    bounce_suppress_days: int = Field(7, description="no mail to a hard-bounced address for this")
    inbound_rate_per_hour: int = Field(
        20, description="a sender's messages per hour above which none triggers automatic mail"
    )
    auto_reply_min_interval_minutes: int = Field(
        10, description="at most one automatic message per recipient in this interval"
    )
    auto_reply_max_per_day: int = Field(10, description="automatic messages per recipient a day")
    outbox_backoff_seconds: float = 30.0
    outbox_lease_seconds: float = Field(
        300.0, description="a claimed outbox row is taken over by another process after this"
    )
    smtp_reuse_port: bool = Field(False, description="SO_REUSEPORT: processes share the port")
    portal_url: str = Field("http://127.0.0.1:8080", description="base of links in emails")
    document_reminder_days: float = Field(
        3.0, gt=0, description="remind the client of requested documents after this many days"
    )
    document_reminder_max: int = Field(
        3, ge=0, description="at most this many document reminders per request (0: none)"
    )
    kb_suggest: bool = Field(True, description="suggest KB articles in the acknowledgement")
    kb_suggest_threshold: float = Field(
        0.1, description="minimum relevance (0..1) of a suggested KB article"
    )
    kb_suggest_max: int = Field(3, description="at most this many KB articles in an ack")
    log_json: bool = Field(False, description="JSON log lines (structlog) instead of console")
    agent_verification: Literal["authres", "smtp-auth", "none"] = Field(
        "authres",
        description="what proves an agent's mail: our MTA's Authentication-Results (or SMTP "
        "AUTH), SMTP AUTH / trusted relay only, or From alone (see README: agents by email)",
    )
    authserv_id: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="authserv-id(s) of our own MTA's Authentication-Results headers",
    )

    @field_validator("support_addresses", "smtp_trusted_networks", "authserv_id", mode="before")
    @classmethod
    def _split_addresses(cls, value: Any) -> Any:
        # Accept "a@x, b@y" from an environment variable as well as a JSON list.
        if isinstance(value, str) and not value.lstrip().startswith("["):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("support_addresses", mode="after")
    @classmethod
    def _lowercase(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one support address is needed")
        return [v.lower() for v in value]

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'postdesk.sqlite3').resolve()}"

    @property
    def sink_dir(self) -> Path:
        return self.data_dir / "outbox-sink"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def primary_address(self) -> str:
        return self.support_addresses[0]

    def signing_keys(self) -> list[bytes]:
        """The current key first, then keys still accepted after a rotation."""
        return [self.key_bytes()] + [
            k.get_secret_value().encode() for k in self.previous_secret_keys
        ]

    def key_bytes(self) -> bytes:
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        return _generated_key(self.data_dir)


def _generated_key(data_dir: Path) -> bytes:
    """A key generated once and kept in the data dir, so reply addresses survive restarts."""
    path = data_dir / "secret.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(secrets.token_urlsafe(32))
        tmp.chmod(0o600)
        try:
            tmp.rename(path) if not path.exists() else tmp.unlink()
        except FileExistsError:
            tmp.unlink(missing_ok=True)
    return path.read_text().strip().encode()


def load_settings(file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from the environment, an optional env-style file, then explicit overrides."""
    if file is not None:
        return Settings(_env_file=file, **overrides)  # type: ignore[call-arg]
    return Settings(**overrides)
