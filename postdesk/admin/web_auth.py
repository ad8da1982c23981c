"""Sign-in and sign-out pages."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy import select
from starlette.responses import RedirectResponse, Response

from postdesk.admin.deps import state
from postdesk.admin.pages import page
from postdesk.admin.passwords import verify_password
from postdesk.admin.security import csrf_protect
from postdesk.store.models import Agent

router = APIRouter(prefix="/admin", dependencies=[Depends(csrf_protect)])


def _safe_next(value: str | None) -> str:
    # Only a path of our own: no open redirect to another site ("//evil", "https://...").
    if value and value.startswith("/admin") and not value.startswith("//"):
        return value
    return "/admin/tickets"


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    return page(request, "login.html", {"next": _safe_next(next), "error": None, "email": ""})


@router.post("/login")
def login(
    request: Request,
    email: str = Form(..., max_length=320),
    password: str = Form(..., max_length=1000),
    next: str | None = Form(None),
) -> Response:
    st = state(request)
    ip = request.client.host if request.client else "?"
    now = st.core.clock()
    email = email.strip().lower()
    ctx = {"next": _safe_next(next), "email": email}
    if st.limiter.blocked(email, ip, now):
        return page(
            request,
            "login.html",
            ctx | {"error": "Too many failed attempts. Try again in a few minutes."},
            status_code=429,
        )
    with st.core.db.sessions() as s:
        agent = s.scalar(select(Agent).where(Agent.email == email))
    ok = verify_password(agent.password_hash if agent else None, password)
    if agent is None or not ok or not agent.active:
        st.limiter.failed(email, ip, now)
        return page(
            request, "login.html", ctx | {"error": "Wrong address or password."}, status_code=401
        )
    st.limiter.succeeded(email, ip)
    request.session.clear()  # a fresh session (and CSRF token) at sign-in: no fixation
    request.session["uid"] = agent.id
    request.session["pw"] = (agent.password_hash or "")[-16:]
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/admin/login", status_code=303)
