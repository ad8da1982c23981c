"""The rules editor (managers and admins): the rules YAML in force, stored in the database
when edited (then it wins over the file), validated before it is stored, with a dry run."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from postdesk.admin.deps import CONFIG_ROLES, require_role, state
from postdesk.admin.pages import page
from postdesk.admin.security import csrf_protect
from postdesk.gateway.dry_run import Plan, dry_run
from postdesk.rules.live import file_text
from postdesk.rules.loader import RulesError
from postdesk.store.config_docs import RULES, revisions, save_document
from postdesk.store.config_models import ConfigDocument
from postdesk.store.models import Agent

router = APIRouter(prefix="/admin/config/rules", dependencies=[Depends(csrf_protect)])
configurator = require_role(*CONFIG_ROLES)
MAX_RULES = 200_000
MAX_MAIL = 2_000_000


def _page(
    request: Request,
    me: Agent,
    *,
    text: str | None = None,
    errors: list[str] | None = None,
    plan: Plan | None = None,
    raw: str = "",
    code: int = 200,
) -> Response:
    core = state(request).core
    with core.db.sessions() as s:
        doc = s.get(ConfigDocument, RULES)
        history = list(revisions(s, RULES))
    stored = doc is not None and doc.body is not None
    source = (
        f"stored in the database (version {doc.version}, by {doc.updated_by})"
        if doc is not None and doc.body is not None
        else f"the rules file {core.settings.rules_file}"
        if core.settings.rules_file
        else "the built-in rules (no rules file is configured)"
    )
    context: dict[str, Any] = {
        "text": text
        if text is not None
        else (doc.body if stored and doc else None) or file_text(core.settings.rules_file),
        "source": source,
        "stored": stored,
        "history": history,
        "errors": errors or [],
        "plan": plan,
        "raw": raw,
        "in_force": [r.name for r in core.live_rules.snapshot()[0]],
        "flash": request.session.pop("flash", None),
    }
    return page(request, "rules_editor.html", context, me=me, status_code=code)


@router.get("")
def rules_page(request: Request, me: Agent = Depends(configurator)) -> Response:
    return _page(request, me)


@router.post("")
def save_rules(
    request: Request,
    text: str = Form(..., max_length=MAX_RULES),
    me: Agent = Depends(configurator),
) -> Response:
    core = state(request).core
    text = text.replace("\x00", "")  # PostgreSQL refuses NUL in text; YAML has no use for it
    try:
        core.live_rules.check(text)
    except RulesError as exc:  # never stored: the rules in force stay as they are
        return _page(request, me, text=text, errors=str(exc).splitlines(), code=422)
    with core.db.transaction() as s:
        version = save_document(s, RULES, text, me.email, core.clock())
    core.documents.invalidate()
    request.session["flash"] = f"rules saved (version {version}); every gateway uses them now"
    return RedirectResponse("/admin/config/rules", status_code=303)


@router.post("/revert")
def revert_rules(request: Request, me: Agent = Depends(configurator)) -> Response:
    core = state(request).core
    with core.db.transaction() as s:
        version = save_document(s, RULES, None, me.email, core.clock())
    core.documents.invalidate()
    request.session["flash"] = f"back to the rules file (version {version})"
    return RedirectResponse("/admin/config/rules", status_code=303)


@router.post("/dry-run")
def rules_dry_run(
    request: Request,
    text: str = Form(..., max_length=MAX_RULES),
    raw: str = Form(..., max_length=MAX_MAIL),
    me: Agent = Depends(configurator),
) -> Response:
    """What ``text`` (saved or not) would do with the pasted mail; nothing stored or sent."""
    core = state(request).core
    try:
        rules, _ = core.live_rules.check(text)
    except RulesError as exc:
        return _page(request, me, text=text, raw=raw, errors=str(exc).splitlines(), code=422)
    if not raw.strip():
        return _page(request, me, text=text, errors=["dry run: paste a whole mail"], code=422)
    data = raw.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8", "surrogateescape")
    try:
        plan = dry_run(core, data, rules)
    except Exception as exc:  # a mail the pipeline cannot take: said on the page, not a 500
        return _page(request, me, text=text, raw=raw, errors=[f"dry run failed: {exc}"], code=422)
    return _page(request, me, text=text, raw=raw, plan=plan)
