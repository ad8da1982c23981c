"""Accuracy of parsing + classification against the shared corpus, per folder.

Run from the repo root: ``python benchmarks/classify_corpus.py [-v]``
(-v lists every miss).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ is not installed

from postdesk.store.blobs import FileBlobStore
from tests.inbound.corpus_eval import all_scores, corpus_root


def main() -> int:
    root = corpus_root()
    if root is None:
        print("corpus not found next to the repository (../shared/corpus)")
        return 1
    verbose = "-v" in sys.argv
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        scores = all_scores(root, FileBlobStore(Path(tmp)))
    for score in scores:
        print(score.line())
        if verbose:
            for miss in score.misses:
                print("    miss:", miss)
    print(f"({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
