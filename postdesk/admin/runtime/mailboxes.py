"""IMAP mailboxes: the settings file's and the admin's, their live state, a connection test."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Form, HTTPException, Request
from pydantic import ValidationError
from sqlalchemy import func, select
from starlette.responses import RedirectResponse, Response

from postdesk.admin.deps import state
from postdesk.admin.runtime.common import config_router, configurator, render
from postdesk.inbound.imap.config import MailboxConfig
from postdesk.inbound.imap.stored import (
    config_from_row,
    file_mailboxes,
    lock_holders,
    probe,
    stored_mailboxes,
)
from postdesk.store.mailbox_models import MailboxState
from postdesk.store.models import Agent, InboxItem
from postdesk.store.runtime_models import ImapMailboxRow

router = config_router()
FIELDS = ("name", "host", "port", "security", "username", "folder", "move_to", "support_address")


def _known(request: Request) -> tuple[list[tuple[MailboxConfig, str]], str | None]:
    """Every configured mailbox with where it comes from; a broken file is reported, not raised."""
    core = state(request).core
    problem = None
    try:
        from_file = file_mailboxes(core.settings.mailboxes_file)
    except (OSError, ValueError) as exc:
        from_file, problem = [], f"the mailboxes file cannot be read: {exc}"
    names = {b.name for b in from_file}
    stored = [b for b in stored_mailboxes(core.db) if b.name not in names]
    return [(b, "settings file") for b in from_file] + [(b, "admin") for b in stored], problem


def _page(
    request: Request,
    me: Agent,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    probed: dict[str, Any] | None = None,
    code: int = 200,
) -> Response:
    core = state(request).core
    boxes, problem = _known(request)
    with core.db.sessions() as s:
        states = {r.name: r for r in s.scalars(select(MailboxState))}
        sources = [b.source for b, _ in boxes]
        fetched = dict(
            s.execute(
                select(InboxItem.source, func.count())
                .where(InboxItem.source.in_(sources))
                .group_by(InboxItem.source)
            ).all()
        )
    holders = lock_holders(core.db, [b.name for b, _ in boxes])
    rows = [
        {
            "cfg": b,
            "source": origin,
            "state": states.get(b.name),
            "fetched": fetched.get(b.source, 0),
            "holder": holders.get(b.name),
        }
        for b, origin in boxes
    ]
    ctx = {"rows": rows, "form": form or {}, "probed": probed}
    return render(request, me, "cfg_mailboxes.html", ctx, error=error or problem, code=code)


@router.get("/mailboxes")
def mailboxes(request: Request, me: Agent = Depends(configurator)) -> Response:
    return _page(request, me)


@router.post("/mailboxes")
def add_mailbox(
    request: Request,
    name: str = Form("", max_length=64),
    host: str = Form("", max_length=255),
    port: str = Form("", max_length=6),
    security: str = Form("tls", max_length=10),
    username: str = Form("", max_length=320),
    password: str = Form("", max_length=1000),
    folder: str = Form("INBOX", max_length=255),
    move_to: str = Form("", max_length=255),
    support_address: str = Form("", max_length=320),
    me: Agent = Depends(configurator),
) -> Response:
    values = {
        "name": name.strip(),
        "host": host.strip(),
        "port": port.strip(),
        "security": security,
        "username": username.strip(),
        "folder": folder.strip() or "INBOX",
        "move_to": move_to.strip(),
        "support_address": support_address.strip().lower(),
    }
    row = ImapMailboxRow(
        **(values | {"port": int(port) if port.strip().isdigit() else None}),
        password=password,  # stored as given: see runtime_models.ImapMailboxRow
    )
    try:
        if port.strip() and not port.strip().isdigit():
            raise ValueError("the port is a number, e.g. 993")
        if not password:
            raise ValueError("a password is needed")
        config_from_row(row)  # the same validation the worker's configuration gets
    except (ValidationError, ValueError) as exc:
        return _page(request, me, error=_reason(exc), form=values, code=422)
    boxes, _ = _known(request)
    if any(b.name == row.name for b, _ in boxes):
        return _page(request, me, error=f"a mailbox {row.name} exists", form=values, code=422)
    with state(request).core.db.transaction() as s:
        s.add(row)
    request.session["flash"] = f"added mailbox {row.name}; `postdesk serve` polls it within seconds"
    return RedirectResponse("/admin/config/mailboxes", status_code=303)


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'mailbox'}: {e['msg']}" for e in exc.errors()
        )
    return str(exc)


@router.post("/mailboxes/{name}/remove")
def remove_mailbox(request: Request, name: str, me: Agent = Depends(configurator)) -> Response:
    with state(request).core.db.transaction() as s:
        row = s.scalar(select(ImapMailboxRow).where(ImapMailboxRow.name == name))
        if row is None:
            raise HTTPException(404, "no such mailbox here (the settings file's stay)")
        s.delete(row)
    request.session["flash"] = f"removed mailbox {name}; its poller stops within seconds"
    return RedirectResponse("/admin/config/mailboxes", status_code=303)


@router.post("/mailboxes/{name}/test")
def test_mailbox(request: Request, name: str, me: Agent = Depends(configurator)) -> Response:
    boxes, _ = _known(request)
    cfg = next((b for b, _ in boxes if b.name == name), None)
    if cfg is None:
        raise HTTPException(404, "no such mailbox")
    result = probe(cfg)
    return _page(request, me, probed={"name": name, "ok": result.ok, "detail": result.detail})
