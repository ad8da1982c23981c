"""``postdesk kb import/export/list``: idempotent import by slug, export in the import format."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from postdesk.gateway.cli import main
from postdesk.gateway.settings import Settings
from postdesk.store.kb_files import article_files, read_article

EVAL_ARTICLES = Path(__file__).resolve().parents[2] / "benchmarks" / "kb_eval" / "articles"


def _run(settings: Settings, *args: str) -> tuple[int, str]:
    env = {
        "POSTDESK_DATA_DIR": str(settings.data_dir),
        "POSTDESK_DATABASE_URL": settings.resolved_database_url,
        "POSTDESK_SECRET_KEY": "test-secret-key-0123456789",
    }
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.output


def test_import_is_idempotent_and_export_round_trips(settings: Settings, tmp_path: Path) -> None:
    total = len(article_files(EVAL_ARTICLES))
    code, out = _run(settings, "kb", "import", str(EVAL_ARTICLES))
    assert code == 0, out
    assert "importing" in out and f"{total} created, 0 updated, 0 unchanged" in out
    code, out = _run(settings, "kb", "import", str(EVAL_ARTICLES))
    assert f"0 created, 0 updated, {total} unchanged" in out

    exported = tmp_path / "export"
    code, out = _run(settings, "kb", "export", str(exported))
    assert code == 0 and f"{total} articles" in out
    for path in article_files(EVAL_ARTICLES):
        assert read_article(exported / path.name) == read_article(path)

    # Edit one exported file and re-import: updated by slug, nothing duplicated.
    edited = exported / "reset-password.md"
    edited.write_text(edited.read_text().replace("60 minutes", "two hours"))
    code, out = _run(settings, "kb", "import", str(exported))
    assert f"0 created, 1 updated, {total - 1} unchanged" in out

    code, out = _run(settings, "kb", "list", "--state", "draft")
    assert out.split()[:2] == ["draft", "holiday-opening-hours"]
    code, out = _run(settings, "kb", "list")
    assert len(out.strip().splitlines()) == total


def test_a_bad_file_imports_nothing(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text("---\ntitle: Good\nstate: published\n---\nbody\n")
    (tmp_path / "bad.md").write_text("title: no front matter\n")
    code, out = _run(settings, "kb", "import", str(tmp_path))
    assert code != 0 and "bad.md" in out and "no front matter" in out
    assert _run(settings, "kb", "list")[1].strip() == "no articles"
