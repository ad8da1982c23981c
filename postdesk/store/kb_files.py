"""KB articles as files: one Markdown file per article with a small YAML front matter.

    ---
    title: How do I reset my password?
    category: Account and login
    state: published
    slug: reset-password
    tags: [password, login]
    ---
    Markdown body...

``slug`` defaults to the file name without ``.md``; ``state`` to draft.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from postdesk.store.kb import ArticleData, slugify

FENCE = "---"


class ArticleFileError(ValueError):
    pass


def parse_article(text: str, default_slug: str) -> ArticleData:
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").split("\n")
    if not lines or lines[0].strip() != FENCE:
        raise ArticleFileError("no front matter: the file must start with '---'")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == FENCE)
    except StopIteration:
        raise ArticleFileError("front matter is not closed with '---'") from None
    try:
        meta = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as exc:
        raise ArticleFileError(f"front matter is not valid YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise ArticleFileError("front matter must be a mapping (key: value lines)")
    title = str(meta.get("title") or "").strip()
    if not title:
        raise ArticleFileError("front matter has no title")
    tags = meta.get("tags") or []
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(",")]
    return ArticleData(
        slug=str(meta.get("slug") or default_slug).strip(),
        title=title,
        body="\n".join(lines[end + 1 :]).strip(),
        category=str(meta.get("category") or "").strip(),
        state=str(meta.get("state") or "draft").strip(),
        tags=tuple(str(t) for t in tags if str(t).strip()),
    )


def render_article(article: ArticleData) -> str:
    meta: dict[str, object] = {
        "title": article.title,
        "category": article.category,
        "state": article.state,
        "slug": article.slug,
    }
    if article.tags:
        meta["tags"] = list(article.tags)
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000).strip()
    return f"{FENCE}\n{front}\n{FENCE}\n{article.body.strip()}\n"


def article_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*.md") if p.is_file())


def read_article(path: Path) -> ArticleData:
    try:
        return parse_article(path.read_text(encoding="utf-8"), slugify(path.stem))
    except ArticleFileError as exc:
        raise ArticleFileError(f"{path}: {exc}") from None


def write_article(directory: Path, article: ArticleData) -> Path:
    path = directory / f"{article.slug}.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(render_article(article), encoding="utf-8")
    tmp.replace(path)
    return path
