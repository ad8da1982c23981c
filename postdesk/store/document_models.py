"""Document requests: staff ask a client for named documents; the client's reply fills them.

A ``DocumentRequest`` is one ask (who asked, when, the reminders sent since); each name asked
for is a ``RequestedDocument`` row, filled with the attachment that arrived for it. Kept apart
from ``models`` so the feature owns its tables; it shares ``Base`` with the rest.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from postdesk.clock import utcnow
from postdesk.store.models import Base


class DocumentRequest(Base):
    """One ask for documents on a ticket; open until every document in it was received."""

    __tablename__ = "document_requests"
    # The reminder job looks for open requests on every tick.
    __table_args__ = (Index("ix_document_requests_open", "fulfilled_at", "ticket_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    requested_by: Mapped[str] = mapped_column(String(320))  # an agent's email, or "api"/"rule:x"
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(Text, default="")  # the agent's words to the client
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    last_reminded_at: Mapped[datetime | None] = mapped_column()
    fulfilled_at: Mapped[datetime | None] = mapped_column()

    documents: Mapped[list[RequestedDocument]] = relationship(
        back_populates="request", lazy="selectin", order_by="RequestedDocument.position"
    )


class RequestedDocument(Base):
    """One named document of a request: requested, then received with its attachment."""

    __tablename__ = "requested_documents"
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("document_requests.id", ondelete="CASCADE"), index=True
    )
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(200))
    attachment_id: Mapped[int | None] = mapped_column(
        ForeignKey("attachments.id", ondelete="SET NULL")
    )
    received_at: Mapped[datetime | None] = mapped_column()

    request: Mapped[DocumentRequest] = relationship(back_populates="documents")
