"""Runtime configuration kept in the database (edited in the admin, read by every process).

Settings stay the base: a support address or mailbox from the settings file is always there;
these rows add to it without a restart.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from postdesk.clock import utcnow
from postdesk.store.models import Base


class SupportAddressRow(Base):
    """A support address added in the admin, with what a ticket opened through it starts as."""

    __tablename__ = "support_addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)  # lower case
    display_name: Mapped[str] = mapped_column(String(200), default="")
    default_type: Mapped[str | None] = mapped_column(String(20))
    default_team: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ImapMailboxRow(Base):
    """An IMAP mailbox added in the admin; ``postdesk serve`` starts a poller for it.

    The password is stored as given: the database is as sensitive as the settings file that
    would otherwise hold it (and the admin never shows it back)."""

    __tablename__ = "imap_mailboxes"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int | None] = mapped_column(Integer)
    security: Mapped[str] = mapped_column(String(10), default="tls")
    username: Mapped[str] = mapped_column(String(320))
    password: Mapped[str] = mapped_column(Text, default="")
    folder: Mapped[str] = mapped_column(String(255), default="INBOX")
    move_to: Mapped[str | None] = mapped_column(String(255))
    support_address: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
