"""Mailbox configuration: a typed model per mailbox, read from a YAML file.

The file holds either a list of mailboxes or ``{mailboxes: [...]}``. A password may be
given inline or, better, as ``password_env``/``password_file`` so the YAML holds no secret.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

Security = Literal["tls", "starttls", "none"]
AfterIngest = Literal["keep_flag", "move", "delete"]


class MailboxConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="stable id; the cursor key")
    host: str
    port: int | None = Field(None, description="993 for tls, 143 otherwise")
    security: Security = "tls"
    username: str
    password: SecretStr | None = None
    password_env: str | None = Field(None, description="read the password from this variable")
    password_file: Path | None = Field(None, description="read the password from this file")
    oauth2_token_command: list[str] | None = Field(
        None, description="argv printing an OAuth2 access token on stdout (XOAUTH2 login)"
    )
    folder: str = "INBOX"
    after_ingest: AfterIngest = "keep_flag"
    flag: str = Field("$Postdesk", description="keyword set in keep_flag mode")
    mark_seen: bool = Field(True, description="also set \\Seen in keep_flag mode")
    move_to: str | None = None
    support_address: str | None = Field(None, description="the address this mailbox stands for")
    batch_size: int = Field(50, ge=1, le=1000)
    fetch_budget_bytes: int = Field(32 * 1024 * 1024, ge=1, description="bytes per FETCH")
    poll_interval: float = Field(60.0, gt=0, description="seconds between polls without IDLE")
    idle: bool = True
    idle_renew_seconds: float = Field(540.0, gt=0, description="re-issue IDLE (RFC: < 29 min)")
    max_message_bytes: int = Field(30 * 1024 * 1024, ge=1, description="quarantined above")
    connect_timeout: float = Field(15.0, gt=0)
    read_timeout: float = Field(60.0, gt=0)
    backoff_min_seconds: float = Field(1.0, gt=0)
    backoff_max_seconds: float = Field(300.0, gt=0)

    @field_validator("support_address")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.lower() if value else value

    @model_validator(mode="after")
    def _consistent(self) -> MailboxConfig:
        if self.after_ingest == "move" and not self.move_to:
            raise ValueError(f"mailbox {self.name}: after_ingest=move needs move_to")
        if self.move_to and self.move_to == self.folder:
            raise ValueError(f"mailbox {self.name}: move_to must differ from folder")
        secrets = [self.password, self.password_env, self.password_file, self.oauth2_token_command]
        if sum(s is not None for s in secrets) != 1:
            raise ValueError(
                f"mailbox {self.name}: give exactly one of password, password_env, "
                "password_file, oauth2_token_command"
            )
        return self

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return 993 if self.security == "tls" else 143

    @property
    def source(self) -> str:
        return f"imap:{self.name}"

    def resolved_password(self) -> str | None:
        """The password from wherever it is configured; None for XOAUTH2."""
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_env is not None:
            value = os.environ.get(self.password_env)
            if value is None:
                raise ValueError(f"mailbox {self.name}: ${self.password_env} is not set")
            return value
        if self.password_file is not None:
            return self.password_file.read_text().strip()
        return None


def load_mailboxes(path: Path) -> list[MailboxConfig]:
    """Every mailbox in a YAML file; names must be unique."""
    data: Any = yaml.safe_load(path.read_text()) or []
    if isinstance(data, dict):
        data = data.get("mailboxes") or []
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of mailboxes")
    boxes = [MailboxConfig.model_validate(item) for item in data]
    names = [b.name for b in boxes]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{path}: duplicate mailbox names: {', '.join(dupes)}")
    return boxes


def find_mailbox(boxes: list[MailboxConfig], name: str) -> MailboxConfig:
    for box in boxes:
        if box.name == name:
            return box
    raise KeyError(name)
