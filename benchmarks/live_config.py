"""What the live rules and templates cost the ingest path: the rules asked for on every
event, the stored documents re-read every few seconds, a rebuild after an edit.

    python benchmarks/live_config.py        # SQLite in a temp dir
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from postdesk.clock import utcnow
from postdesk.outbound.render import Renderer
from postdesk.outbound.template_check import sample_contexts
from postdesk.rules.live import LiveRules
from postdesk.rules.loader import DEFAULTS
from postdesk.store import migrate
from postdesk.store.config_docs import DocumentCache, read_documents, save_document
from postdesk.store.db import Database


def per_call(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.db")
        migrate.upgrade(db)
        with db.transaction() as s:
            save_document(s, "rules", DEFAULTS.read_text(), "bench", utcnow())
            save_document(s, "email/ack.txt.j2", "Hi {{ requester_name }}", "bench", utcnow())
        docs = DocumentCache(db.engine)
        live = LiveRules(docs, None)
        live.snapshot()
        print(f"rules asked for (cached):      {per_call(live.snapshot, 20000) * 1e6:8.2f} us")
        read = per_call(lambda: read_documents(db.engine), 500)
        print(f"documents read (every 3 s):    {read * 1e3:8.3f} ms")

        def rebuild() -> object:
            docs.invalidate()
            live._stamp = None  # as after an edit (the version moved)
            return live.snapshot()

        print(f"rules rebuilt after an edit:   {per_call(rebuild, 50) * 1e3:8.3f} ms")
        context = sample_contexts("ack", "Bench", "http://x")[0]
        plain, stored = Renderer(), Renderer(overrides=docs)
        p = per_call(lambda: plain.render("ack", context), 2000)
        o = per_call(lambda: stored.render("ack", context), 2000)
        print(f"ack rendered, files only:      {p * 1e6:8.1f} us")
        print(f"ack rendered, with overrides:  {o * 1e6:8.1f} us")
        db.dispose()


if __name__ == "__main__":
    main()
