"""The JSON API for staff-initiated conversations and document requests.

``POST /api/conversations`` starts a conversation (optionally a document request);
``POST /api/tickets/{n}/documents`` asks the client of a ticket for documents;
``GET /api/tickets/{n}/documents`` lists what was asked and what arrived. Bearer token as
for the rest of the API; bad input answers 422 with the reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel, Field

from postdesk.admin.deps import api_agent, state
from postdesk.gateway.conversations import MAX_BODY, start_conversation
from postdesk.rules.document_flow import request_documents
from postdesk.rules.documents import MAX_NAME_LENGTH, MAX_NAMES
from postdesk.store.documents import DocumentRow, document_rows
from postdesk.store.models import Agent, Ticket
from postdesk.store.workflow import WorkflowError

router = APIRouter(prefix="/api", tags=["documents"])
TicketNo = Annotated[int, Path(ge=1, le=2**62)]
DocName = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH)]


class ConversationIn(BaseModel):
    to: str = Field(min_length=3, max_length=400, description="the client's address")
    subject: str = Field(min_length=1, max_length=200)
    body: str = Field("", max_length=MAX_BODY, description="optional with documents")
    documents: list[DocName] = Field(default_factory=list, max_length=MAX_NAMES)


class DocumentsIn(BaseModel):
    names: list[DocName] = Field(min_length=1, max_length=MAX_NAMES)
    note: str = Field("", max_length=MAX_BODY, description="a sentence above the list")


class DocumentOut(BaseModel):
    id: int
    request_id: int
    name: str
    state: str  # requested | received
    requested_at: datetime
    requested_by: str
    received_at: datetime | None
    attachment_id: int | None
    filename: str | None


class ConversationOut(BaseModel):
    ticket: int
    type: str
    status: str
    requester: str
    documents: list[DocumentOut]


def _doc(r: DocumentRow) -> DocumentOut:
    return DocumentOut(
        id=r.id,
        request_id=r.request_id,
        name=r.name,
        state=r.state,
        requested_at=r.requested_at,
        requested_by=r.requested_by,
        received_at=r.received_at,
        attachment_id=r.attachment_id,
        filename=r.filename,
    )


@router.post("/conversations", response_model=ConversationOut, status_code=201)
def post_conversation(
    request: Request, data: ConversationIn, me: Agent = Depends(api_agent)
) -> ConversationOut:
    st = state(request)
    try:
        with st.core.db.transaction() as s:
            t = start_conversation(
                s,
                st.core,
                agent=me,
                to=data.to,
                subject=data.subject,
                body=data.body,
                documents=data.documents,
                origin="api",
                now=st.core.clock(),
            )
            out = ConversationOut(
                ticket=t.id,
                type=t.type,
                status=t.status,
                requester=t.requester.email if t.requester else "",
                documents=[_doc(r) for r in document_rows(s, t.id)],
            )
    except WorkflowError as exc:
        raise HTTPException(422, str(exc)) from exc
    st.wake_outbox()
    return out


@router.post("/tickets/{number}/documents", response_model=list[DocumentOut], status_code=201)
def post_documents(
    request: Request, number: TicketNo, data: DocumentsIn, me: Agent = Depends(api_agent)
) -> list[DocumentOut]:
    st = state(request)
    try:
        with st.core.db.transaction() as s:
            t = s.get(Ticket, number, with_for_update={"of": Ticket})
            if t is None:
                raise HTTPException(404, "no such ticket")
            made = request_documents(
                s,
                ident=st.core.pipeline.ident,
                renderer=st.core.renderer,
                ticket=t,
                names=data.names,
                agent=me,
                actor=me.email,
                support=st.core.support.known(),
                now=st.core.clock(),
                note=data.note,
            )
            out = [_doc(r) for r in document_rows(s, number) if r.request_id == made.id]
    except WorkflowError as exc:
        raise HTTPException(422, str(exc)) from exc
    st.wake_outbox()
    return out


@router.get("/tickets/{number}/documents", response_model=list[DocumentOut])
def get_documents(
    request: Request, number: TicketNo, me: Agent = Depends(api_agent)
) -> list[DocumentOut]:
    with state(request).core.db.sessions() as s:
        if s.get(Ticket, number) is None:
            raise HTTPException(404, "no such ticket")
        return [_doc(r) for r in document_rows(s, number)]
