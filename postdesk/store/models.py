"""The tables: tickets and their messages, people, the inbox of raw mail and the outbox.

Enumerations are stored as short strings (see ``postdesk.store.enums``) so that adding a
value needs no migration; the workflow module decides which values are valid.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from postdesk.clock import utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

BigId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER only


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every engine: SQLite hands ``DateTime(timezone=True)`` back naive,
    and comparing that with an aware ``now`` raises (a reply to a resolved ticket did)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use postdesk.clock.utcnow")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON}


class Agent(Base):
    """A member of staff: answers tickets, receives notifications, may sign in to the admin."""

    __tablename__ = "agents"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20), default="agent")  # admin | manager | agent
    team: Mapped[str | None] = mapped_column(String(100))
    away: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ClientOrg(Base):
    """A client organisation: its mail domains and the staff member assigned to it (CSM)."""

    __tablename__ = "client_orgs"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    csm_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    domains: Mapped[list[ClientDomain]] = relationship(back_populates="org", lazy="selectin")
    csm: Mapped[Agent | None] = relationship(lazy="joined")


class ClientDomain(Base):
    __tablename__ = "client_domains"
    id: Mapped[int] = mapped_column(primary_key=True)
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("client_orgs.id", ondelete="CASCADE"))
    org: Mapped[ClientOrg] = relationship(back_populates="domains")


class Contact(Base):
    """Anyone outside the team who writes to support or is copied on a ticket."""

    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    org_id: Mapped[int | None] = mapped_column(ForeignKey("client_orgs.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Ticket(Base):
    """A conversation with a status, an owner and a thread. Its number is its id."""

    __tablename__ = "tickets"
    # The views' pages, newest activity first, and their counts (views.ORDER, view_counts).
    __table_args__ = (
        Index("ix_tickets_status_updated", "status", "updated_at", "id"),
        Index("ix_tickets_assignee_status_updated", "assignee_id", "status", "updated_at", "id"),
        Index("ix_tickets_updated_covering", "updated_at", "id", "status", "assignee_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(20), default="support")
    status: Mapped[str] = mapped_column(String(20), default="new")
    priority: Mapped[str] = mapped_column(String(2), default="P3")
    subject: Mapped[str] = mapped_column(String(998), default="")
    requester_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("client_orgs.id"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    support_address: Mapped[str] = mapped_column(String(320), default="")
    origin: Mapped[str] = mapped_column(String(20), default="email")  # email | web | api | agent
    linked_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)  # stores affected, outcome, ...
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Who assigned it: "rule:<name>" for automatic assignment, an agent's email when manual
    # (manual assignment always wins over the rules).
    assigned_by: Mapped[str | None] = mapped_column(String(320))
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    status_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    first_response_at: Mapped[datetime | None] = mapped_column()  # the first public staff reply
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()

    requester: Mapped[Contact | None] = relationship(lazy="joined")
    assignee: Mapped[Agent | None] = relationship(lazy="joined")
    org: Mapped[ClientOrg | None] = relationship(lazy="joined")

    @property
    def number(self) -> int:
        return self.id


class Participant(Base):
    """An address that takes part in a ticket's public thread (requester, CC, reply-all)."""

    __tablename__ = "participants"
    __table_args__ = (UniqueConstraint("ticket_id", "email"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20), default="cc")  # requester | cc


class Message(Base):
    """One message of a ticket: inbound or outbound, public or internal."""

    __tablename__ = "messages"
    # The inbound rate limit counts a sender's recent messages on every arrival.
    __table_args__ = (Index("ix_messages_sender_recent", "from_address", "created_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    visibility: Mapped[str] = mapped_column(String(10), default="public")  # public | internal
    kind: Mapped[str] = mapped_column(String(20), default="normal")  # normal|auto_reply|bounce|...
    author_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    author_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    from_address: Mapped[str] = mapped_column(String(320), default="")
    from_name: Mapped[str] = mapped_column(String(200), default="")
    to_addresses: Mapped[list[str]] = mapped_column(JSON, default=list)
    cc_addresses: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(String(998), default="")
    message_id: Mapped[str] = mapped_column(String(998), index=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    references: Mapped[list[str]] = mapped_column(JSON, default=list)
    text_full: Mapped[str] = mapped_column(Text, default="")
    text_new: Mapped[str] = mapped_column(Text, default="")
    html_sanitized: Mapped[str | None] = mapped_column(Text)
    inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inbox.id"))
    thread_reason: Mapped[str] = mapped_column(String(200), default="")
    sent_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    attachments: Mapped[list[Attachment]] = relationship(lazy="selectin")


class Attachment(Base):
    """A file of a message; its bytes live once in the blob store under their SHA-256."""

    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    content_id: Mapped[str | None] = mapped_column(String(998))
    inline: Mapped[bool] = mapped_column(Boolean, default=False)


class InboxItem(Base):
    """A raw message as received, committed before we answer 250 (or touch IMAP).

    ``state``: received -> processed | failed | duplicate. A failed row keeps its error and is
    retried from the CLI or the admin; nothing here is ever deleted by the pipeline.
    """

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("content_hash"),
        UniqueConstraint("dedupe_key"),
        Index("ix_inbox_state", "state", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(998), default="")
    sender: Mapped[str] = mapped_column(String(320), default="")
    # sha256 of Message-ID and sender on the first arrival; NULL on rows marked duplicate, so
    # a unique constraint settles two processes racing with the same message.
    dedupe_key: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(100))  # smtp | lmtp | ingest | imap:<mailbox>
    envelope_from: Mapped[str] = mapped_column(String(320), default="")
    envelope_to: Mapped[list[str]] = mapped_column(JSON, default=list)
    authenticated: Mapped[bool] = mapped_column(Boolean, default=False)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    state: Mapped[str] = mapped_column(String(12), default="received")
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    classification: Mapped[str | None] = mapped_column(String(20))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("inbox.id"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column()
    # The raw message when small enough to keep here (``gateway.receive.INLINE_MAX``); else
    # NULL and the bytes are in the blob store under ``content_hash``. Loaded only when read.
    raw: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)


class InboxArrival(Base):
    """A further arrival of bytes we already hold (redelivery, a second mailbox, SMTP and IMAP)."""

    __tablename__ = "inbox_arrivals"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inbox.id"), index=True)
    source: Mapped[str] = mapped_column(String(100))
    envelope_to: Mapped[list[str]] = mapped_column(JSON, default=list)
    arrived_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxItem(Base):
    """A rendered message waiting to go out; written in the transaction that decided to send it.

    Workers claim rows with a lease (``claimed_until``) so a crashed worker's rows are taken
    over; on PostgreSQL the claim uses ``FOR UPDATE SKIP LOCKED``.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "state", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))  # ack | reply | notification | ...
    automatic: Mapped[bool] = mapped_column(Boolean, default=True)
    mail_from: Mapped[str] = mapped_column(String(320))
    recipients: Mapped[list[str]] = mapped_column(JSON)
    message_id: Mapped[str] = mapped_column(String(998), index=True)
    subject: Mapped[str] = mapped_column(String(998), default="")
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(12), default="pending")  # pending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()


class AuditEntry(Base):
    """Who changed what on a ticket, when, from which value to which."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    actor: Mapped[str] = mapped_column(String(320))  # "system", "rule:<name>", an agent's email
    action: Mapped[str] = mapped_column(String(50))
    field: Mapped[str | None] = mapped_column(String(50))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Notification(Base):
    """An in-app notification for one agent (the admin's notifications panel)."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_agent_unread", "agent_id", "read_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))  # new_ticket | client_reply | assigned | ...
    summary: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column()
