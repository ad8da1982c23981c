"""The admin's composition: one FastAPI app over the gateway's own parts (database, pipeline)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import JSONResponse, RedirectResponse, Response

from postdesk.admin import api, health, web_auth, web_config, web_content, web_inbox, web_tickets
from postdesk.admin.content_routes import ROUTERS as CONTENT_ROUTERS
from postdesk.admin.deps import LoginRequired
from postdesk.admin.health import registry_for
from postdesk.admin.pages import page
from postdesk.admin.runtime import router as runtime_router
from postdesk.admin.security import security_headers
from postdesk.admin.state import AdminState
from postdesk.admin.web_documents import router as documents_router
from postdesk.admin.web_work import install as install_work
from postdesk.gateway.app import App

STATIC = Path(__file__).resolve().parent / "static"
SESSION_HOURS = 12


def create_app(core: App, *, wake_outbox: Callable[[], None] | None = None) -> FastAPI:
    """The web admin and JSON API for ``core``; ``wake_outbox`` sends replies at once."""
    secure = core.settings.portal_url.lower().startswith("https://")
    app = FastAPI(
        title="postdesk",
        version="1",
        docs_url=None,  # Swagger UI needs inline script and a CDN; the CSP forbids both
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.admin = AdminState(core, secure_cookies=secure)
    if wake_outbox is not None:
        app.state.admin.wake_outbox = wake_outbox
    app.state.metrics = registry_for(core.db)
    app.middleware("http")(security_headers)
    # Signed (itsdangerous) cookie; HttpOnly always, Secure when the admin is served over https.
    app.add_middleware(
        SessionMiddleware,
        secret_key=_session_key(core),
        session_cookie="postdesk_session",
        max_age=SESSION_HOURS * 3600,
        same_site="lax",
        https_only=secure,
    )
    for module in (web_auth, web_tickets, web_content, web_inbox, web_config, api, health):
        app.include_router(module.router)
    install_work(app)  # tasks and time estimates: routes, API and the ticket page section
    for router in CONTENT_ROUTERS:  # rules, templates, KB admin, public help centre
        app.include_router(router)
    app.include_router(documents_router)  # conversations and document requests
    app.include_router(runtime_router)  # runtime configuration pages and the Escalate button
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def root() -> Response:
        return RedirectResponse("/admin/tickets", status_code=303)

    @app.exception_handler(LoginRequired)
    def _login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"/admin/login?next={exc.next_url}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/admin") and exc.status_code != 401:
            return page(
                request,
                "error.html",
                {"code": exc.status_code, "detail": exc.detail},
                status_code=exc.status_code,
            )
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    return app


def _session_key(core: App) -> str:
    # Derived from the gateway's secret, but not equal to it (that one signs reply addresses).
    import hashlib
    import hmac

    return hmac.new(
        core.settings.key_bytes(), b"postdesk-admin-session", hashlib.sha256
    ).hexdigest()
