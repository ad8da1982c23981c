"""The public help centre (no sign-in): published articles by category, one article per
page. This is where the acknowledgement's suggested-article links point
(``<portal_url>/kb/<slug>``, see ``rules/suggest.py``). Drafts do not exist here (404)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select
from starlette.responses import HTMLResponse, Response

from postdesk.admin.deps import state
from postdesk.admin.kb_html import article_html
from postdesk.store.kb import slugify
from postdesk.store.kb_models import KbArticle, KbCategory

router = APIRouter(prefix="/kb")
# Stricter than the admin's: no script at all, no frames, nothing from elsewhere but images.
PUBLIC_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' https: data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _render(request: Request, template: str, context: dict[str, Any], code: int = 200) -> Response:
    support_name = state(request).core.settings.support_name
    response: HTMLResponse = state(request).templates.TemplateResponse(
        request,
        template,
        {"request": request, "support_name": support_name} | context,
        status_code=code,
    )
    response.headers["Content-Security-Policy"] = PUBLIC_CSP
    return response


@router.get("")
def help_centre(request: Request) -> Response:
    with state(request).core.db.sessions() as s:
        categories = list(
            s.scalars(select(KbCategory).order_by(KbCategory.position, KbCategory.name))
        )
        articles = list(
            s.scalars(
                select(KbArticle).where(KbArticle.state == "published").order_by(KbArticle.title)
            )
        )
    sections = [(c.name, [a for a in articles if a.category_id == c.id]) for c in categories]
    loose = [a for a in articles if a.category_id is None]
    if loose:
        sections.append(("Other questions", loose))
    return _render(request, "kb_public_list.html", {"sections": [x for x in sections if x[1]]})


@router.get("/{slug}")
def public_article(request: Request, slug: str) -> Response:
    if slug != slugify(slug):  # not an address we make (and no NUL for PostgreSQL to refuse)
        return _render(request, "kb_public_missing.html", {}, code=404)
    with state(request).core.db.sessions() as s:
        article = s.scalar(
            select(KbArticle).where(KbArticle.slug == slug, KbArticle.state == "published")
        )
    if article is None:
        return _render(request, "kb_public_missing.html", {}, code=404)
    context = {"article": article, "html": article_html(article.body)}
    return _render(request, "kb_public_article.html", context)
