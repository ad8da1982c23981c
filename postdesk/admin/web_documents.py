"""Conversations and document requests in the admin: the "Message client" page reachable
from the ticket list, and the ticket page's "Request a document" form (its documents section
is ``_ticket_documents.html``). The JSON API's routes (``api_documents``) ride along, so the
feature is one entry in ``admin.app``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from postdesk.admin import api_documents
from postdesk.admin.deps import DbId, session_agent, state
from postdesk.admin.pages import page
from postdesk.admin.security import csrf_protect
from postdesk.admin.web_tickets import act  # one action, one transaction, refusals inline
from postdesk.gateway.conversations import start_conversation
from postdesk.rules.document_flow import request_documents
from postdesk.store.models import Agent
from postdesk.store.workflow import WorkflowError

admin = APIRouter(prefix="/admin", dependencies=[Depends(csrf_protect)])
router = APIRouter()
MAX_FIELD = 100_000


def _lines(text: str) -> list[str]:
    """Document names typed one per line (commas also separate them)."""
    return [n.strip() for line in text[:MAX_FIELD].splitlines() for n in line.split(",")]


def _form(
    request: Request, me: Agent, values: dict[str, str], error: str | None = None
) -> Response:
    return page(
        request,
        "message_client.html",
        {"values": values, "error": error},
        me=me,
        status_code=422 if error else 200,
    )


@admin.get("/message-client")
def message_client_page(request: Request, me: Agent = Depends(session_agent)) -> Response:
    return _form(request, me, {"to": "", "subject": "", "body": "", "documents": ""})


@admin.post("/message-client")
def message_client(
    request: Request,
    to: str = Form(""),
    subject: str = Form(""),
    body: str = Form(""),
    documents: str = Form(""),
    me: Agent = Depends(session_agent),
) -> Response:
    values = {"to": to[:400], "subject": subject[:400], "body": body, "documents": documents}
    st = state(request)
    try:
        with st.core.db.transaction() as s:
            ticket = start_conversation(
                s,
                st.core,
                agent=me,
                to=to[:400],
                subject=subject[:400],
                body=body[: MAX_FIELD + 1],
                documents=_lines(documents),
                origin="web",
                now=st.core.clock(),
            )
            number = ticket.id
    except WorkflowError as exc:
        return _form(request, me, values, str(exc))
    st.wake_outbox()
    request.session["flash"] = "Conversation started; the mail is on its way"
    return RedirectResponse(f"/admin/tickets/{number}", status_code=303)


@admin.post("/tickets/{number}/documents")
def post_request(
    request: Request,
    number: DbId,
    names: str = Form(""),
    note: str = Form(""),
    me: Agent = Depends(session_agent),
) -> Response:
    core = state(request).core
    return act(
        request,
        number,
        me,
        "Documents requested",
        "",
        lambda s, t, now: request_documents(
            s,
            ident=core.pipeline.ident,
            renderer=core.renderer,
            ticket=t,
            names=_lines(names),
            agent=me,
            actor=me.email,
            support=core.support.known(),
            now=now,
            note=note[: MAX_FIELD + 1],
        ),
    )


router.include_router(admin)
router.include_router(api_documents.router)
