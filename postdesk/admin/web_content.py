"""Customer content: a message's HTML in its sandboxed frame, and attachment downloads."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from starlette.responses import Response

from postdesk.admin.deps import DbId, session_agent, state
from postdesk.admin.message_html import content_disposition, frame_document, frame_policy
from postdesk.store.models import Agent, Attachment, Message

router = APIRouter(prefix="/admin")


@router.get("/messages/{message_id}/html")
def message_html(
    request: Request, message_id: DbId, images: int = 0, _me: Agent = Depends(session_agent)
) -> Response:
    with state(request).core.db.sessions() as s:
        message = s.get(Message, message_id)
        html = message.html_sanitized if message is not None else None
    if html is None:
        raise HTTPException(404, "this message has no HTML part")
    doc, _blocked = frame_document(html, remote_images=bool(images))
    return Response(
        doc,
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": frame_policy(bool(images)),
            "X-Frame-Options": "SAMEORIGIN",
        },
    )


@router.get("/attachments/{attachment_id}")
def download(
    request: Request, attachment_id: DbId, _me: Agent = Depends(session_agent)
) -> Response:
    st = state(request)
    with st.core.db.sessions() as s:
        att = s.get(Attachment, attachment_id)
    if att is None or not st.core.blobs.exists(att.sha256):
        raise HTTPException(404, "no such attachment")
    # Always a download with a neutral type: a hostile file is never rendered by the browser.
    return Response(
        st.core.blobs.get(att.sha256),
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": content_disposition(att.filename),
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )
