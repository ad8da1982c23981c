"""Support addresses: the settings' ones (fixed here) and those added in the admin."""

from __future__ import annotations

from fastapi import Depends, Form, HTTPException, Request
from sqlalchemy import select
from starlette.responses import RedirectResponse, Response

from postdesk.admin.deps import DbId, state
from postdesk.admin.runtime.common import config_router, configurator, render
from postdesk.gateway.support_addresses import check_address
from postdesk.store.enums import TicketType
from postdesk.store.models import Agent
from postdesk.store.runtime_models import SupportAddressRow

router = config_router()
TYPES = [t.value for t in TicketType if t != TicketType.ESCALATION]


def _page(
    request: Request,
    me: Agent,
    error: str | None = None,
    form: dict[str, str] | None = None,
    code: int = 200,
) -> Response:
    support = state(request).core.support
    support.invalidate()  # this page shows what the database holds now
    with state(request).core.db.sessions() as s:
        ids = {r.address: r.id for r in s.scalars(select(SupportAddressRow))}
    ctx = {"entries": support.entries(), "ids": ids, "types": TYPES, "form": form or {}}
    return render(request, me, "cfg_addresses.html", ctx, error=error, code=code)


@router.get("/addresses")
def addresses(request: Request, me: Agent = Depends(configurator)) -> Response:
    return _page(request, me)


def problem(address: str, default_type: str, taken: set[str], configured: set[str]) -> str | None:
    """What is wrong with a new address, or None (a pure decision, tested on its own)."""
    if address in configured:
        return f"{address} is already a support address (from settings)"
    if address in taken:
        return f"{address} is already a support address"
    if default_type and default_type not in TYPES:
        return f"unknown ticket type {default_type!r}"
    return None


@router.post("/addresses")
def add_address(
    request: Request,
    address: str = Form("", max_length=400),
    display_name: str = Form("", max_length=200),
    default_type: str = Form("", max_length=20),
    default_team: str = Form("", max_length=100),
    me: Agent = Depends(configurator),
) -> Response:
    form = {
        "address": address,
        "display_name": display_name,
        "default_type": default_type,
        "default_team": default_team,
    }
    core = state(request).core
    try:
        clean = check_address(address)
    except ValueError as exc:
        return _page(request, me, str(exc), form, 422)
    with core.db.transaction() as s:
        taken = set(s.scalars(select(SupportAddressRow.address)))
        why = problem(clean, default_type, taken, set(core.support.configured))
        if why is None:
            s.add(
                SupportAddressRow(
                    address=clean,
                    display_name=display_name.strip(),
                    default_type=default_type or None,
                    default_team=default_team.strip() or None,
                )
            )
    if why is not None:
        return _page(request, me, why, form, 422)
    core.support.invalidate()
    request.session["flash"] = f"added {clean}; every gateway accepts it within seconds"
    return RedirectResponse("/admin/config/addresses", status_code=303)


@router.post("/addresses/{row_id}/remove")
def remove_address(request: Request, row_id: DbId, me: Agent = Depends(configurator)) -> Response:
    core = state(request).core
    with core.db.transaction() as s:
        row = s.get(SupportAddressRow, row_id)
        if row is None:
            raise HTTPException(404, "no such support address (addresses from settings stay)")
        address = row.address
        s.delete(row)
    core.support.invalidate()
    request.session["flash"] = f"removed {address}"
    return RedirectResponse("/admin/config/addresses", status_code=303)
