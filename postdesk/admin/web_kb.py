"""Knowledge-base admin: list and search articles, write and publish them, and categories.

Every signed-in agent may edit the KB: it is content agents know best, not configuration
(rules, templates and staff stay with managers and admins). Changes are stamped with
``updated_at``, so the suggestion index of every process rebuilds on its next search.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from sqlalchemy import func, or_, select
from starlette.responses import RedirectResponse, Response

from postdesk.admin.deps import DbId, session_agent, state
from postdesk.admin.kb_html import article_html, is_html, sanitize
from postdesk.admin.pages import page
from postdesk.admin.security import csrf_protect
from postdesk.store.kb import STATES, ArticleData, ensure_category, slugify, upsert_article
from postdesk.store.kb_models import KbArticle, KbCategory
from postdesk.store.models import Agent

router = APIRouter(prefix="/admin/kb", dependencies=[Depends(csrf_protect)])
MAX_BODY = 200_000


def _categories(request: Request) -> list[KbCategory]:
    with state(request).core.db.sessions() as s:
        return list(s.scalars(select(KbCategory).order_by(KbCategory.position, KbCategory.name)))


@router.get("")
def kb_list(
    request: Request,
    q: str = "",
    category: str = "",
    status: str = "",
    me: Agent = Depends(session_agent),
) -> Response:
    query = select(KbArticle).order_by(KbArticle.title)
    text = _clean(q).strip()[:200]
    if text:
        like = f"%{text.lower()}%"
        query = query.where(
            or_(func.lower(KbArticle.title).like(like), func.lower(KbArticle.body).like(like))
        )
    if category.isdigit():
        query = query.where(KbArticle.category_id == int(category))
    if status in STATES:
        query = query.where(KbArticle.state == status)
    with state(request).core.db.sessions() as s:
        articles = list(s.scalars(query.limit(500)))
    context = {
        "articles": articles,
        "categories": _categories(request),
        "filters": {"q": q, "category": category, "status": status},
        "states": STATES,
        "flash": request.session.pop("flash", None),
        "error": None,
    }
    return page(request, "kb_list.html", context, me=me)


def _editor(
    request: Request,
    me: Agent,
    form: dict[str, Any],
    *,
    error: str | None = None,
    code: int = 200,
) -> Response:
    context = {
        "form": form,
        "categories": _categories(request),
        "states": STATES,
        "error": error,
        "rendered": article_html(form["body"]) if form["body"].strip() else "",
        "flash": request.session.pop("flash", None),
    }
    return page(request, "kb_edit.html", context, me=me, status_code=code)


@router.get("/new")
def kb_new(request: Request, me: Agent = Depends(session_agent)) -> Response:
    form = {"original": "", "slug": "", "title": "", "body": "", "category": "", "state": "draft"}
    form["tags"] = ""
    return _editor(request, me, form)


@router.get("/articles/{slug}")
def kb_edit(request: Request, slug: str, me: Agent = Depends(session_agent)) -> Response:
    if slug != slugify(slug):
        raise HTTPException(404, "no such article")
    with state(request).core.db.sessions() as s:
        article = s.scalar(select(KbArticle).where(KbArticle.slug == slug))
        if article is None:
            raise HTTPException(404, "no such article")
        form = {
            "original": article.slug,
            "slug": article.slug,
            "title": article.title,
            "body": article.body,
            "category": article.category.name if article.category else "",
            "state": article.state,
            "tags": ", ".join(article.tags or ()),
        }
    return _editor(request, me, form)


@router.post("/articles")
def kb_save(
    request: Request,
    original: str = Form("", max_length=200),
    slug: str = Form("", max_length=200),
    title: str = Form("", max_length=500),
    body: str = Form("", max_length=MAX_BODY),
    category: str = Form("", max_length=200),
    status: str = Form("draft"),
    tags: str = Form("", max_length=1000),
    me: Agent = Depends(session_agent),
) -> Response:
    """Create (``original`` empty) or update an article; a bad field re-shows the form."""
    core = state(request).core
    original, slug, title, body, category, tags = map(
        _clean, (original, slug, title, body, category, tags)
    )
    slug = slug.strip() or slugify(title)
    body = sanitize(body) if is_html(body) else body  # stored HTML is clean HTML
    form = {
        "original": original,
        "slug": slug,
        "title": title,
        "body": body,
        "category": category,
        "state": status,
        "tags": tags,
    }
    problem = _problem(form)
    if problem is None:
        with core.db.sessions() as s:
            taken = s.scalar(select(KbArticle.id).where(KbArticle.slug == slug))
        if taken is not None and slug != original:
            problem = f"the address /kb/{slug} is taken by another article"
    if problem is not None:
        return _editor(request, me, form, error=f"Not saved: {problem}", code=422)
    words = tuple(dict.fromkeys(t.strip().lower() for t in tags.split(",") if t.strip()))
    data = ArticleData(slug, title.strip(), body, category.strip(), status, words)
    with core.db.transaction() as s:
        if original and original != slug:  # a new address: rename the row, keep its id
            article = s.scalar(select(KbArticle).where(KbArticle.slug == original))
            if article is None:
                raise HTTPException(404, "no such article")
            article.slug = slug
            s.flush()
        what = upsert_article(s, data, core.clock())
    request.session["flash"] = f"article {slug} {what}"
    return RedirectResponse(f"/admin/kb/articles/{slug}", status_code=303)


def _clean(text: str) -> str:
    """No NUL characters: PostgreSQL refuses them in text (a 500), and no one means them."""
    return text.replace("\x00", "")


def _problem(form: dict[str, Any]) -> str | None:
    if not form["title"].strip():
        return "an article needs a title (a question, as a client would ask it)"
    if not form["slug"] or form["slug"] != slugify(form["slug"]):
        return "the address is lower-case letters, digits and '-'"
    if form["state"] not in STATES:
        return f"the state is one of {', '.join(STATES)}"
    if not form["body"].strip():
        return "an article needs a body"
    return None


@router.post("/categories")
def kb_category_add(
    request: Request, name: str = Form(..., max_length=200), me: Agent = Depends(session_agent)
) -> Response:
    name = _clean(name)
    if not slugify(name):
        request.session["flash"] = "a category needs a name with letters or digits"
        return RedirectResponse("/admin/kb", status_code=303)
    with state(request).core.db.transaction() as s:
        ensure_category(s, name.strip())
    request.session["flash"] = f"category {name.strip()} saved"
    return RedirectResponse("/admin/kb", status_code=303)


@router.post("/categories/{category_id}/rename")
def kb_category_rename(
    request: Request,
    category_id: DbId,
    name: str = Form(..., max_length=200),
    me: Agent = Depends(session_agent),
) -> Response:
    """A new name; the slug (the category's key for imports) follows when it is free."""
    name = _clean(name)
    new_slug = slugify(name)
    with state(request).core.db.transaction() as s:
        category = s.get(KbCategory, category_id)
        if category is None:
            raise HTTPException(404, "no such category")
        other = s.scalar(select(KbCategory.id).where(KbCategory.slug == new_slug))
        if not new_slug or (other is not None and other != category_id):
            request.session["flash"] = f"cannot rename: {name!r} is empty or already used"
            return RedirectResponse("/admin/kb", status_code=303)
        category.name, category.slug = name.strip(), new_slug
    request.session["flash"] = f"category renamed to {name.strip()}"
    return RedirectResponse("/admin/kb", status_code=303)
