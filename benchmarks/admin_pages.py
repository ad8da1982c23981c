"""How fast are the ticket views with 100,000 tickets: store queries, the CLI, the admin over HTTP.

    python benchmarks/admin_pages.py [--tickets 100000] [--runs 15] [--database-url URL]
                                     [--explain]

Fills a store (benchmarks/admin_fill.py: tickets over statuses, agents, priorities, with a
few messages each and one ticket with a long thread), then times, median and p95 over
``--runs`` repetitions after one warm-up:

- each view's first page and a deep page (page 200, or the last) through
  ``postdesk.store.views`` and the view counts the ticket list shows (all seven);
- ``postdesk tickets list --view V`` (the CLI command, in-process: its own app and engine);
- over HTTP, against a real ``postdesk serve`` (uvicorn) with a signed-in session (httpx):
  the admin ticket list of each view (first and deep page) and the long thread's ticket page.
``--explain`` prints how each view's page 200 is found (the ids, in order).

With ``--database-url`` (PostgreSQL) the database must be disposable: it is emptied and
filled.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from click.testing import CliRunner
from sqlalchemy import text

from benchmarks.admin_fill import BENCH_AGENT, PASSWORD, timed_fill
from postdesk.gateway.cli import main as cli_main
from postdesk.store import migrate, views
from postdesk.store.db import Database
from postdesk.store.models import Ticket
from postdesk.store.schema import metadata
from postdesk.store.views import VIEWS, count_view, list_view, view_query
from tests.reliability.supervisor import free_port

PAGE = 25  # the admin's page size
DEEP_PAGE = 200
ROOT = Path(__file__).resolve().parents[1]
Row = tuple[str, float, float]  # (what, median ms, p95 ms)


def measure(what: str, action: Callable[[], Any], runs: int) -> Row:
    action()  # warm-up: caches, prepared plans
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        action()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return what, statistics.median(times), p95


def deep_offset(total: int) -> int:
    """Page 200's offset, or the last page's when the view is shorter."""
    return max(0, min((DEEP_PAGE - 1) * PAGE, (total - 1) // PAGE * PAGE))


def all_counts(session: Any, agent_id: int) -> dict[str, int]:
    """What the ticket list computes for its tabs: one grouped query when available."""
    grouped = getattr(views, "view_counts", None)
    if grouped is not None:
        return grouped(session, agent_id=agent_id)
    return {name: count_view(session, name, agent_id=agent_id) for name in VIEWS}


def time_store(db: Database, runs: int) -> tuple[list[Row], dict[str, int]]:
    rows: list[Row] = []
    with db.sessions() as s:
        counts = {name: count_view(s, name, agent_id=1) for name in VIEWS}
        for name in VIEWS:
            deep = deep_offset(counts[name])
            rows.append(
                measure(f"{name} p1", lambda n=name: list_view(s, n, agent_id=1, limit=PAGE), runs)
            )
            rows.append(
                measure(
                    f"{name} p{deep // PAGE + 1}",
                    lambda n=name, o=deep: list_view(s, n, agent_id=1, limit=PAGE, offset=o),
                    runs,
                )
            )
        rows.append(measure("counts of the 7 views", lambda: all_counts(s, 1), runs))
        assert all_counts(s, 1) == counts, "the grouped counts differ from count_view"
    return rows, counts


def time_cli(env: dict[str, str], runs: int) -> list[Row]:
    runner = CliRunner(env=env)

    def run(view: str) -> None:
        result = runner.invoke(
            cli_main, ["tickets", "list", "--view", view, "--agent", BENCH_AGENT]
        )
        assert result.exit_code == 0, result.output
        assert result.output.startswith("#") or result.output.strip() == "no tickets"

    return [measure(f"tickets list --view {v}", lambda v=v: run(v), runs) for v in VIEWS]


def serve(env: dict[str, str], workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "postdesk", "serve"],
        env=env | {"POSTDESK_WEB_PORT": str(port), "POSTDESK_SMTP_PORT": str(free_port())},
        cwd=workdir,
        stdout=(workdir / "serve.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit((workdir / "serve.log").read_text()[-3000:])
        try:
            httpx.get(f"{base}/admin/login", timeout=2)
            return proc, base
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("postdesk serve did not answer")


def signed_in(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60, follow_redirects=True)
    form = client.get("/admin/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    r = client.post(
        "/admin/login",
        data={"email": BENCH_AGENT, "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert r.status_code == 200 and "/admin/tickets" in str(r.url), r.status_code
    return client


def time_http(client: httpx.Client, counts: dict[str, int], long_id: int, runs: int) -> list[Row]:
    def get(path: str, expect: str) -> None:
        r = client.get(path)
        assert r.status_code == 200 and expect in r.text, (path, r.status_code)

    rows = []
    for v in VIEWS:
        page = deep_offset(counts[v]) // PAGE + 1
        rows.append(
            measure(
                f"/admin/tickets?view={v}",
                lambda v=v: get(f"/admin/tickets?view={v}", "<h1>"),
                runs,
            )
        )
        rows.append(
            measure(
                f"/admin/tickets?view={v}&page_no={page}",
                lambda v=v, p=page: get(
                    f"/admin/tickets?view={v}&page_no={p}", f"page {p} of" if p > 1 else "<h1>"
                ),
                runs,
            )
        )
    rows.append(
        measure(
            f"/admin/tickets/{long_id} (long thread)",
            lambda: get(f"/admin/tickets/{long_id}", f"#{long_id}"),
            runs,
        )
    )
    return rows


def explain(db: Database) -> None:
    prefix = "EXPLAIN" if db.is_postgres else "EXPLAIN QUERY PLAN"
    with db.engine.connect() as conn:
        for name in VIEWS:
            order = getattr(views, "ORDER", (Ticket.updated_at.desc(), Ticket.id.desc()))
            # How a deep page's tickets are found and ordered (the ids are what is skipped).
            q = view_query(name, 1).with_only_columns(Ticket.id).order_by(*order)
            q = q.limit(PAGE).offset((DEEP_PAGE - 1) * PAGE)
            sql = str(q.compile(db.engine, compile_kwargs={"literal_binds": True}))
            plan = conn.execute(text(f"{prefix} {sql}")).all()
            print(f"\n-- {name}\n" + "\n".join(str(r[-1]) for r in plan))


def table(title: str, rows: list[Row]) -> None:
    print(f"\n| {title} | median ms | p95 ms |\n|---|---|---|")
    for what, median, p95 in rows:
        print(f"| {what} | {median:.1f} | {p95:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--per-ticket", type=int, default=3, help="messages per ticket, mean")
    parser.add_argument("--long-thread", type=int, default=400, help="messages of the long ticket")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--database-url", default=None, help="a DISPOSABLE PostgreSQL database")
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        url = args.database_url or f"sqlite:///{root / 'admin.sqlite3'}"
        db = Database(url)
        migrate.upgrade(db)
        if db.is_postgres:
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            with db.engine.begin() as conn:
                conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        long_id, took = timed_fill(db, args.tickets, args.per_ticket, args.long_thread)
        store = "PostgreSQL" if db.is_postgres else "SQLite"
        print(f"filled {args.tickets:,} tickets in {took:.0f} s ({store})")
        if args.explain:
            explain(db)
        store_rows, counts = time_store(db, args.runs)
        db.dispose()
        print("view sizes: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        env = {k: v for k, v in os.environ.items() if not k.startswith("POSTDESK_")} | {
            "PYTHONPATH": str(ROOT),
            "POSTDESK_DATABASE_URL": url,
            "POSTDESK_DATA_DIR": str(root / "var"),
            "POSTDESK_SECRET_KEY": "admin-pages-benchmark-secret-0123456789",
            "POSTDESK_SUPPORT_ADDRESSES": "support@bench.example",
            "POSTDESK_RELAY_URL": f"smtp://127.0.0.1:{free_port()}",
            "POSTDESK_SMTP_HOST": "127.0.0.1",
        }
        table(f"store query ({args.tickets:,} tickets)", store_rows)
        table("CLI (in-process, own app each time)", time_cli(env, args.runs))
        proc, base = serve(env, root)
        try:
            client = signed_in(base)
            table(
                "admin over HTTP (uvicorn, signed in)",
                time_http(client, counts, long_id, args.runs),
            )
            client.close()
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # The time-based rules of serve had nothing to do: no timer changed the store under us.
        db = Database(url)
        with db.sessions() as s:
            assert s.scalar(text("SELECT count(*) FROM outbox")) == 0, "the timers sent mail"
        db.dispose()


if __name__ == "__main__":
    main()
