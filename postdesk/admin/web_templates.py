"""The email template editor (managers and admins): an override of a built-in template is
stored in the database, checked (syntax, variables, sandbox) with sample data first."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from sqlalchemy import select
from starlette.responses import RedirectResponse, Response

from postdesk.admin.deps import CONFIG_ROLES, require_role, state
from postdesk.admin.pages import page
from postdesk.admin.security import csrf_protect
from postdesk.outbound.render import OVERRIDE_PREFIX
from postdesk.outbound.template_check import (
    MAX_TEMPLATE,
    PARTS,
    Preview,
    TemplateProblem,
    builtin_names,
    builtin_part,
    check,
    document_name,
)
from postdesk.store.config_docs import save_document
from postdesk.store.config_models import ConfigDocument
from postdesk.store.models import Agent

router = APIRouter(prefix="/admin/config/templates", dependencies=[Depends(csrf_protect)])
configurator = require_role(*CONFIG_ROLES)


def _stored(request: Request) -> dict[str, ConfigDocument]:
    with state(request).core.db.sessions() as s:
        docs = s.scalars(
            select(ConfigDocument).where(ConfigDocument.name.startswith(OVERRIDE_PREFIX))
        )
        return {d.name: d for d in docs if d.body is not None}


@router.get("")
def template_list(request: Request, me: Agent = Depends(configurator)) -> Response:
    stored = _stored(request)
    rows = [
        {
            "name": n,
            "parts": [p for p in PARTS if builtin_part(n, p) is not None],
            "edited": [p for p in PARTS if document_name(n, p) in stored],
        }
        for n in builtin_names()
    ]
    flash = request.session.pop("flash", None)
    return page(request, "templates_list.html", {"rows": rows, "flash": flash}, me=me)


def _known(name: str) -> str:
    if name not in builtin_names():
        raise HTTPException(404, "no such template")
    return name


def _editor(
    request: Request,
    me: Agent,
    name: str,
    *,
    parts: dict[str, str] | None = None,
    error: str | None = None,
    preview: Preview | None = None,
    code: int = 200,
) -> Response:
    settings = state(request).core.settings
    stored = _stored(request)
    if parts is None:
        parts = {}
        for p in PARTS:
            doc = stored.get(document_name(name, p))
            parts[p] = doc.body if doc is not None and doc.body else builtin_part(name, p) or ""
    if preview is None and error is None:
        try:
            preview = check(
                name, parts, support_name=settings.support_name, portal_url=settings.portal_url
            )
        except TemplateProblem as exc:  # a stored override that no longer renders
            error = str(exc)
    context: dict[str, Any] = {
        "name": name,
        "parts": parts,
        "builtin": {p: builtin_part(name, p) is not None for p in PARTS},
        "edited": [
            stored[document_name(name, p)] for p in PARTS if document_name(name, p) in stored
        ],
        "error": error,
        "preview": preview,
        "flash": request.session.pop("flash", None),
    }
    return page(request, "template_editor.html", context, me=me, status_code=code)


@router.get("/{name}")
def template_page(request: Request, name: str, me: Agent = Depends(configurator)) -> Response:
    return _editor(request, me, _known(name))


@router.post("/{name}")
def template_save(
    request: Request,
    name: str,
    subject: str = Form("", max_length=MAX_TEMPLATE),
    txt: str = Form("", max_length=MAX_TEMPLATE),
    html: str = Form("", max_length=MAX_TEMPLATE),
    action: str = Form("save"),
    me: Agent = Depends(configurator),
) -> Response:
    """``action=preview`` renders the edit with sample data; ``save`` stores it (both check)."""
    name = _known(name)
    core = state(request).core
    # No NUL characters: PostgreSQL refuses them in text, and no template means them.
    parts = {
        k: v.replace("\x00", "") for k, v in (("subject", subject), ("txt", txt), ("html", html))
    }
    try:
        preview = check(
            name,
            parts,
            support_name=core.settings.support_name,
            portal_url=core.settings.portal_url,
        )
    except TemplateProblem as exc:
        return _editor(request, me, name, parts=parts, error=f"Not saved: {exc}", code=422)
    if action == "preview":
        return _editor(request, me, name, parts=parts, preview=preview)
    changed = _save(request, me, name, parts)
    request.session["flash"] = (
        f"saved {name}: {', '.join(changed)} (every gateway uses it now)"
        if changed
        else f"{name}: nothing changed"
    )
    return RedirectResponse(f"/admin/config/templates/{name}", status_code=303)


def _save(request: Request, me: Agent, name: str, parts: dict[str, str]) -> list[str]:
    """Store the parts that differ from the built-in ones; a part back to the built-in text
    (or emptied) drops its override."""
    core = state(request).core
    stored = _stored(request)
    changed = []
    with core.db.transaction() as s:
        for part in PARTS:
            text = parts[part].replace("\r\n", "\n")
            builtin = builtin_part(name, part)
            body = None if not text.strip() or text == builtin else text
            current = stored.get(document_name(name, part))
            if (current.body if current is not None else None) != body:
                save_document(s, document_name(name, part), body, me.email, core.clock())
                changed.append(part)
    core.documents.invalidate()
    return changed


@router.post("/{name}/reset")
def template_reset(request: Request, name: str, me: Agent = Depends(configurator)) -> Response:
    name = _known(name)
    core = state(request).core
    stored = _stored(request)
    with core.db.transaction() as s:
        for part in PARTS:
            if document_name(name, part) in stored:
                save_document(s, document_name(name, part), None, me.email, core.clock())
    core.documents.invalidate()
    request.session["flash"] = f"{name} is the built-in template again"
    return RedirectResponse(f"/admin/config/templates/{name}", status_code=303)
