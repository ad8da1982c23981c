"""Scoring the parser and classifier against the shared corpus's expectations.

Used by the corpus tests (which assert floors) and by ``benchmarks/classify_corpus.py``
(which prints the figures). Each scorer returns a ``Score`` with the misses named.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

from postdesk.contracts import BlobStore
from postdesk.inbound.classify import Classification, classify
from postdesk.inbound.message import InboundMessage
from postdesk.inbound.parse import parse_message

KEYS = [b"corpus-test-key"]
REPO_ROOT = Path(__file__).resolve().parents[2]


def corpus_root() -> Path | None:
    """repo_root/../shared/corpus; POSTDESK_CORPUS overrides it (for runs from a worktree)."""
    root = Path(os.environ.get("POSTDESK_CORPUS") or REPO_ROOT.parent / "shared" / "corpus")
    return root if root.is_dir() else None


@dataclass
class Score:
    name: str
    total: int = 0
    good: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, ok: bool, label: str) -> None:
        self.total += 1
        self.good += ok
        if not ok:
            self.misses.append(label)

    @property
    def ratio(self) -> float:
        return self.good / self.total if self.total else 1.0

    def line(self) -> str:
        return f"{self.name:<48} {self.good:>4}/{self.total:<4} {self.ratio:7.1%}"


def envelope_of(raw: bytes) -> str:
    """What an adapter without an envelope passes: the top Return-Path, else From."""
    head = BytesHeaderParser(policy=compat32).parsebytes(raw[:200_000])
    rp = str(head.get("Return-Path") or "").strip()
    if rp:
        return "" if rp in ("<>", "") else rp.strip("<>")
    return str(head.get("From") or "unknown").strip()


def run(path: Path, blobs: BlobStore) -> tuple[InboundMessage, Classification]:
    raw = path.read_bytes()
    msg = parse_message(raw, blobs)
    return msg, classify(msg, raw, envelope_from=envelope_of(raw), keys=KEYS)


def _expectations(root: Path, folder: str) -> dict:
    return json.loads((root / folder / "expectations.json").read_text())["fixtures"]


def sisimai(root: Path, blobs: BlobStore) -> list[Score]:
    folder = root / "sisimai-set-of-emails"
    fixtures = _expectations(root, "sisimai-set-of-emails")
    detect = Score("sisimai bounce detected (kind=bounce)")
    count = Score("sisimai failed-recipient count matches")
    perm = Score("sisimai permanent == (status class 5)")
    status = Score("sisimai status code matches (real codes only)")
    hard = Score("sisimai hardbounce agreement (their notion)")
    vacation = Score("sisimai rfc3834 auto-replies (kind=auto_reply)")
    arf = Score("sisimai ARF feedback reports (kind=bounce)")
    for name, exp in fixtures.items():
        _, cls = run(folder / name, blobs)
        results = exp["results"]
        reasons = {r["reason"] for r in results}
        if reasons == {"vacation"}:
            vacation.add(cls.kind == "auto_reply", name)
            continue
        if reasons == {"feedback"}:
            arf.add(cls.kind == "bounce", name)
            continue
        detect.add(cls.kind == "bounce", f"{name} -> {cls.kind}")
        if cls.bounce is None or reasons <= {"delivered"}:
            continue
        got = cls.bounce.recipients
        count.add(len(got) == len(results), f"{name}: {len(got)} != {len(results)}")
        for i, r in enumerate(results):
            if i >= len(got):
                break
            code = r["status"]
            if code[:1] in ("4", "5"):
                perm.add(got[i].permanent == (code[0] == "5"), f"{name}#{i}: {got[i]} vs {code}")
            if code and ".0.9" not in code:
                status.add(got[i].status == code, f"{name}#{i}: {got[i].status!r} vs {code}")
            hard.add(got[i].permanent == r["hardbounce"], name)
    return [detect, count, perm, status, hard, vacation, arf]


def sisimai_not_bounces(root: Path, blobs: BlobStore) -> Score:
    score = Score("sisimai maildir/not (kind!=bounce)")
    for path in sorted((root / "sisimai-set-of-emails" / "maildir" / "not").iterdir()):
        _, cls = run(path, blobs)
        score.add(cls.kind != "bounce", path.name)
    return score


def flufl(root: Path, blobs: BlobStore) -> list[Score]:
    folder = root / "flufl.bounce"
    detect = Score("flufl.bounce detected (kind=bounce)")
    addrs = Score("flufl.bounce failed addresses (exact set)")
    perm = Score("flufl.bounce permanent/temporary per address")
    for name, exp in _expectations(root, "flufl.bounce").items():
        if not exp.get("detectors"):
            continue
        want: dict[str, bool] = {}
        for det in exp["detectors"]:
            for a in det["addresses"]:
                want[a.lower()] = det["kind"] == "permanent"
        _, cls = run(folder / name, blobs)
        detect.add(cls.kind == "bounce", f"{name} -> {cls.kind}")
        got = {r.address: r.permanent for r in cls.bounce.recipients} if cls.bounce else {}
        addrs.add(set(got) == set(want), f"{name}: {sorted(got)} vs {sorted(want)}")
        for a, p in want.items():
            if a in got:
                perm.add(got[a] == p, f"{name}: {a} permanent={got[a]} want {p}")
    return [detect, addrs, perm]


def chatwoot(root: Path, blobs: BlobStore) -> list[Score]:
    folder = root / "chatwoot"
    auto = Score("chatwoot is_auto_reply / is_bounce flags")
    content = Score("chatwoot subject/text/attachments")
    for name, exp in _expectations(root, "chatwoot").items():
        msg, cls = run(folder / name, blobs)
        if exp.get("is_bounce"):
            auto.add(cls.kind == "bounce" and not cls.may_auto_respond, f"{name} -> {cls.kind}")
        elif "is_auto_reply" in exp:
            want = exp["is_auto_reply"]
            auto.add((cls.kind == "auto_reply") == want, f"{name} -> {cls.kind}")
        for check, ok in _content_checks(exp, msg):
            content.add(ok, f"{name}: {check}")
    return [auto, content]


def _content_checks(exp: dict, msg: InboundMessage) -> list[tuple[str, bool]]:
    checks: list[tuple[str, bool]] = []
    visible = [a for a in msg.attachments if not a.inline]
    if "subject" in exp:
        checks.append(("subject", msg.subject == exp["subject"].strip()))
    if exp.get("message_content"):
        checks.append(("text", exp["message_content"].split("\n")[0] in msg.text))
    if "content_contains" in exp:
        checks.append(("contains", exp["content_contains"] in msg.text))
    if "reply_text_startswith" in exp:
        checks.append(("reply", msg.text_new.startswith(exp["reply_text_startswith"][:40])))
    if "attachments_count" in exp:
        checks.append((f"attachments {len(visible)}", len(visible) == exp["attachments_count"]))
    if "attachments" in exp:
        checks.append(("names", [a.filename for a in visible] == exp["attachments"]))
    if "references" in exp:
        checks.append(("references", list(msg.references) == exp["references"]))
    if "in_reply_to" in exp:
        want = exp["in_reply_to"]
        checks.append(("in_reply_to", list(msg.in_reply_to) == ([want] if want else [])))
    if "in_reply_to_first" in exp:
        checks.append(("in_reply_to_first", msg.in_reply_to[:1] == (exp["in_reply_to_first"],)))
    return checks


def php_bounce_handler(root: Path, blobs: BlobStore) -> Score:
    folder = root / "php-bounce-handler"
    score = Score("php-bounce-handler explicit results")
    for name, exp in _expectations(root, "php-bounce-handler").items():
        if "type" not in exp:
            continue
        _, cls = run(folder / name, blobs)
        got = {r.address: r for r in cls.bounce.recipients} if cls.bounce else {}
        r = got.get(exp["recipient"].lower())
        ok = cls.kind == "bounce" and (exp["type"] == "fbl" or r is not None)
        if ok and r is not None:
            ok = r.permanent == (exp["action"] == "failed")
        score.add(ok, f"{name}: {cls.kind} {sorted(got)}")
    return score


def all_scores(root: Path, blobs: BlobStore) -> list[Score]:
    return [
        *sisimai(root, blobs),
        sisimai_not_bounces(root, blobs),
        *flufl(root, blobs),
        *chatwoot(root, blobs),
        php_bounce_handler(root, blobs),
    ]
