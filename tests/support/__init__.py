"""Test helpers: real servers on loopback, real databases, mail built like a mail client's."""

from __future__ import annotations

from typing import Any

from postdesk.gateway.settings import Settings


def with_settings(settings: Settings, **changes: Any) -> Settings:
    """A validated copy (``model_copy`` would skip validation, e.g. leave secrets as str)."""
    return Settings.model_validate(settings.model_dump() | changes)
