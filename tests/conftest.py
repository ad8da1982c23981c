"""Fixtures shared by the suite: real databases (SQLite and PostgreSQL), settings, the app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from postdesk.gateway.app import App
from postdesk.gateway.settings import Settings
from tests.support.databases import (
    PostgresServer,
    migrated_sqlite_template,
    pg_required,
    sqlite_copy,
    start_postgres,
)

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


@pytest.fixture(autouse=True)
def fresh_estimate_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process-wide estimate index starts empty and rebuilds on every change in tests.

    Each xdist worker reuses one PostgreSQL database URL from test to test, and the index's
    rate limit (a rebuild that took long is not repeated within ten times as long) could
    otherwise hand a test an index built in an earlier test, or before its own tickets were
    resolved. The rate limit itself is tested on its own instances.
    """
    from postdesk.rules.estimate_rule import SHARED_INDEX

    monkeypatch.setattr(SHARED_INDEX, "rebuild_share", None)
    monkeypatch.setattr(SHARED_INDEX, "_built", None)
    monkeypatch.setattr(SHARED_INDEX, "_terms", {})


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_sqlite_template(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | None]:
    server = start_postgres()
    yield server
    if server is not None:
        server.drop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """Each test using this runs twice: on a migrated SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return sqlite_copy(sqlite_template, tmp_path)
    server: PostgresServer | None = request.getfixturevalue("postgres_server")
    if server is None:
        pytest.skip("PostgreSQL not reachable (set POSTDESK_TEST_PG_URL)")
    server.truncate()
    return server.url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "var",
        database_url=database_url,
        support_addresses=["support@example.com"],
        smtp_port=0,
        secret_key="test-secret-key-0123456789",
        support_name="Example Support",
    )


@pytest.fixture
def app(settings: Settings) -> Iterator[App]:
    application = App(settings)
    yield application
    application.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI, a run in which no PostgreSQL test passed is a failed run."""
    if not pg_required() or hasattr(session.config, "workerinput"):
        return  # an xdist worker: the controller sees every worker's reports
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    passed = reporter.stats.get("passed", []) if reporter else []
    if session.testscollected and not any("postgres" in r.keywords for r in passed):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if reporter:
            reporter.write_line("FAILED: no PostgreSQL test passed, but CI requires them", red=True)
