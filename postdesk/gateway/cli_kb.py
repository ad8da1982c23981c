"""``postdesk kb``: the knowledge base as files (import, export) and a listing."""

from __future__ import annotations

from pathlib import Path

import click

from postdesk.gateway.cli_context import Context, pass_ctx
from postdesk.store.kb import STATES, article_data, list_articles, upsert_article
from postdesk.store.kb_files import ArticleFileError, article_files, read_article, write_article


@click.group()
def kb() -> None:
    """Knowledge-base articles: import and export as Markdown files, list."""


@kb.command("import")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False, exists=True))
@pass_ctx
def kb_import(c: Context, directory: Path) -> None:
    """Create or update articles from DIRECTORY/*.md (matched by slug; safe to run again)."""
    paths = article_files(directory)
    if not paths:
        raise click.ClickException(f"no .md files in {directory}")
    try:  # read every file first: one bad file imports nothing
        articles = [read_article(p) for p in paths]
    except ArticleFileError as exc:
        raise click.ClickException(str(exc)) from None
    slugs = [a.slug for a in articles]
    if len(set(slugs)) != len(slugs):
        twice = sorted({s for s in slugs if slugs.count(s) > 1})
        raise click.ClickException(f"slug used by several files: {', '.join(twice)}")
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    now = c.app.clock()
    try:
        with (
            c.app.db.transaction() as session,
            click.progressbar(articles, label="importing", show_pos=True) as bar,
        ):
            for article in bar:
                counts[upsert_article(session, article, now)] += 1
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(", ".join(f"{n} {what}" for what, n in counts.items()))


@kb.command("export")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@pass_ctx
def kb_export(c: Context, directory: Path) -> None:
    """Write every article to DIRECTORY/<slug>.md (the format ``kb import`` reads)."""
    directory.mkdir(parents=True, exist_ok=True)
    with c.app.db.sessions() as session:
        articles = [article_data(a) for a in list_articles(session)]
    for article in articles:
        write_article(directory, article)
    click.echo(f"{len(articles)} articles written to {directory}")


@kb.command("list")
@click.option("--state", type=click.Choice(STATES))
@pass_ctx
def kb_list(c: Context, state: str | None) -> None:
    """Every article: state, slug, category and title."""
    with c.app.db.sessions() as session:
        rows = list_articles(session, state)
        if not rows:
            click.echo("no articles")
        for a in rows:
            category = a.category.name if a.category else "-"
            click.echo(f"{a.state:<9} {a.slug:<40} {category[:24]:<24} {a.title}")
