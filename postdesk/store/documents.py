"""Document requests in the store: create one, find what is still open, show a ticket's list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Exists

from postdesk.store.db import Database
from postdesk.store.document_models import DocumentRequest, RequestedDocument
from postdesk.store.models import Attachment, Ticket


@dataclass(frozen=True, slots=True)
class DocumentRow:
    """One requested document as the CLI, the API and the admin show it."""

    id: int
    request_id: int
    name: str
    requested_at: datetime
    requested_by: str
    received_at: datetime | None
    attachment_id: int | None
    filename: str | None
    reminders_sent: int

    @property
    def state(self) -> str:
        return "received" if self.received_at is not None else "requested"


def create_request(
    session: Session,
    ticket_id: int,
    names: Sequence[str],
    *,
    requested_by: str,
    agent_id: int | None,
    note: str,
    now: datetime,
) -> DocumentRequest:
    request = DocumentRequest(
        ticket_id=ticket_id,
        requested_by=requested_by[:320],
        agent_id=agent_id,
        note=note,
        created_at=now,
        reminders_sent=0,
    )
    session.add(request)
    session.flush()
    for position, name in enumerate(names):
        session.add(
            RequestedDocument(
                request_id=request.id, ticket_id=ticket_id, position=position, name=name
            )
        )
    session.flush()
    session.refresh(request)
    return request


def ticket_documents(session: Session, ticket_id: int) -> list[RequestedDocument]:
    """Every document asked for on the ticket, oldest request first, in the order asked."""
    return list(
        session.scalars(
            select(RequestedDocument)
            .where(RequestedDocument.ticket_id == ticket_id)
            .order_by(RequestedDocument.request_id, RequestedDocument.position)
        )
    )


def open_requests(session: Session, ticket_id: int) -> list[DocumentRequest]:
    return list(
        session.scalars(
            select(DocumentRequest)
            .where(DocumentRequest.ticket_id == ticket_id, DocumentRequest.fulfilled_at.is_(None))
            .order_by(DocumentRequest.id)
        )
    )


def has_open_request() -> Exists:
    """SQL: the ticket in the query has a request still waiting for documents."""
    return exists(
        select(DocumentRequest.id).where(
            DocumentRequest.ticket_id == Ticket.id, DocumentRequest.fulfilled_at.is_(None)
        )
    )


def document_rows(session: Session, ticket_id: int) -> list[DocumentRow]:
    rows = session.execute(
        select(RequestedDocument, DocumentRequest, Attachment.filename)
        .join(DocumentRequest, DocumentRequest.id == RequestedDocument.request_id)
        .outerjoin(Attachment, Attachment.id == RequestedDocument.attachment_id)
        .where(RequestedDocument.ticket_id == ticket_id)
        .order_by(RequestedDocument.request_id, RequestedDocument.position)
    ).all()
    return [
        DocumentRow(
            id=doc.id,
            request_id=req.id,
            name=doc.name,
            requested_at=req.created_at,
            requested_by=req.requested_by,
            received_at=doc.received_at,
            attachment_id=doc.attachment_id,
            filename=filename,
            reminders_sent=req.reminders_sent,
        )
        for doc, req, filename in rows
    ]


def documents_of(db: Database, ticket_id: int) -> list[DocumentRow]:
    """``document_rows`` in a session of its own (for a page that needs nothing else)."""
    with db.sessions() as session:
        return document_rows(session, ticket_id)
