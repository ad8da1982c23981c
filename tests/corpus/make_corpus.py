"""Write the acceptance corpus: one .eml per case and ``expected.json`` beside them.

Every message is crafted here for postdesk (no third-party samples): same licence as the
project. Names, addresses and domains are invented (example.com, client.example, ...).

Run from the repository root after changing a case, and commit the output:
    PYTHONPATH=. python tests/corpus/make_corpus.py
Files named ``NAME-NNx.eml`` (x = a, b, ...) form one scenario, ingested in order into one
fresh database; ``thread: attach:<stem>`` means "joins the ticket that <stem> produced".
``@@ACK_OF:<stem>@@`` in a file stands for the Message-ID of the acknowledgement we sent for
that earlier message (it is random, so the test fills it in).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.corpus import cases_auto, cases_hard, cases_mime, cases_replies
from tests.corpus.build import Case

HERE = Path(__file__).resolve().parent


def all_cases() -> list[Case]:
    modules = (cases_auto, cases_replies, cases_hard, cases_mime)
    return [case for module in modules for case in module.all_cases()]


def main() -> int:
    cases = all_cases()
    names = [c.name for c in cases]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        print("duplicate names:", sorted(dupes), file=sys.stderr)
        return 1
    for old in HERE.glob("*.eml"):
        old.unlink()
    expected = {}
    for case in sorted(cases, key=lambda c: c.name):
        (HERE / f"{case.name}.eml").write_bytes(case.raw)
        expected[f"{case.name}.eml"] = case.expected()
    (HERE / "expected.json").write_text(
        json.dumps(expected, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    )
    print(f"{len(cases)} messages written to {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
