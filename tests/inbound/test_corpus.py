"""The parser and classifier over the shared corpus: robustness and accuracy floors.

Floors are set a little under the figures measured when this was written (see
``benchmarks/classify_corpus.py`` for the full table); a drop below them is a regression.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import pytest

from postdesk.inbound.parse import ParseError, parse_message
from postdesk.store.blobs import FileBlobStore
from tests.inbound import corpus_eval

# Folders of whole messages (the reply-parser folders hold bodies only).
MESSAGE_FOLDERS = (
    "chatwoot",
    "cpython-test_email",
    "django-helpdesk",
    "flanker",
    "flufl.bounce",
    "mail-parser",
    "mikel-mail",
    "mime4j",
    "mimekit/UnitTests/TestData/messages",
    "php-bounce-handler/eml",
    "sisimai-set-of-emails/maildir",
    "talon",
)
NOT_MAIL_SUFFIXES = {".json", ".xml", ".out", ".bin", ".list", ".md", ".py", ".rb", ".tnef"}


def _message_files(root: Path) -> list[Path]:
    files = []
    for folder in MESSAGE_FOLDERS:
        for path in sorted((root / folder).rglob("*")):
            if (
                path.is_file()
                and path.suffix not in NOT_MAIL_SUFFIXES
                and "_decoded" not in path.name
                and not path.name.startswith(("LICENSE", "SOURCE", "README", "NOTICE"))
                and not path.name.endswith(("_valid.txt", "_invalid.txt"))
            ):
                files.append(path)
    return files


def test_every_corpus_message_parses(corpus: Path, session_blobs: FileBlobStore) -> None:
    files = _message_files(corpus)
    assert len(files) > 1000
    refused = []
    for path in files:
        try:
            parse_message(path.read_bytes(), session_blobs)
        except ParseError:
            refused.append(str(path.relative_to(corpus)))
    print(f"\n{len(files)} messages, ParseError for {len(refused)}: {refused}")
    # Only non-mail may be refused: an Outlook .msg (OLE binary), two empty talon files.
    assert len(refused) <= 3, refused


@pytest.fixture(scope="module")
def scores(corpus: Path, session_blobs: FileBlobStore) -> dict[str, corpus_eval.Score]:
    return {s.name: s for s in corpus_eval.all_scores(corpus, session_blobs)}


FLOORS = {
    "sisimai bounce detected (kind=bounce)": 0.95,
    "sisimai failed-recipient count matches": 0.92,
    "sisimai permanent == (status class 5)": 0.95,
    "sisimai status code matches (real codes only)": 0.88,
    "sisimai rfc3834 auto-replies (kind=auto_reply)": 1.0,
    "flufl.bounce detected (kind=bounce)": 0.87,
    "flufl.bounce failed addresses (exact set)": 0.75,
    "flufl.bounce permanent/temporary per address": 0.93,
    "chatwoot is_auto_reply / is_bounce flags": 1.0,
    "chatwoot subject/text/attachments": 0.9,
    "php-bounce-handler explicit results": 1.0,
}


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_accuracy_floor(scores: dict[str, corpus_eval.Score], name: str) -> None:
    score = scores[name]
    print(f"\n{score.line()}")
    assert score.total > 0
    assert score.ratio >= FLOORS[name], score.misses[:20]


def test_all_six_rfc3834_auto_replies(corpus: Path, blobs: FileBlobStore) -> None:
    paths = sorted((corpus / "sisimai-set-of-emails/maildir/bsd").glob("rfc3834-*.eml"))
    assert len(paths) == 6
    for path in paths:
        _, cls = corpus_eval.run(path, blobs)
        assert cls.kind == "auto_reply", (path.name, cls.reasons)
        assert not cls.may_auto_respond and not cls.may_open_ticket, (path.name, cls)


def test_chatwoot_auto_generated_notification_may_open_ticket(
    corpus: Path, blobs: FileBlobStore
) -> None:
    path = corpus / "chatwoot/spec/fixtures/files/auto_reply_with_auto_submitted.eml"
    _, cls = corpus_eval.run(path, blobs)
    assert cls.kind == "auto_reply" and cls.may_open_ticket and not cls.may_auto_respond


def test_mimekit_tnef_extraction(corpus: Path) -> None:
    from postdesk.inbound.attachments import AttachmentSink

    fixtures = json.loads((corpus / "mimekit/expectations.json").read_text())["fixtures"]
    checked = matched = 0
    misses = []
    for name, exp in fixtures.items():
        if not name.endswith(".tnef"):
            continue
        names = [n for n in exp["expected_attachment_names"] if n not in ("body.rtf", "body.html")]
        folder = exp.get("expected_extracted_dir")
        expected_dir = corpus / "mimekit" / folder if folder else None
        sink = AttachmentSink(_MemoryBlobs(), None)
        sink._add_tnef((corpus / "mimekit" / name).read_bytes())
        got = [(r.filename, sink.blobs.data[r.sha256]) for r in sink.refs]
        ok = sorted(n for n, _ in got) == sorted(names)
        for n, data in got:
            path = expected_dir / n if expected_dir else None
            if ok and path is not None and path.is_file():
                # The collected expected text files had CRLF turned into LF: compare modulo that.
                ok = _lf(path.read_bytes()) == _lf(data)
        checked += 1
        if ok:
            matched += 1
        else:
            misses.append((name, names, [n for n, _ in got]))
    print(f"\nTNEF: {matched}/{checked} containers give the expected files byte-for-byte")
    print("misses:", misses)
    assert checked >= 17
    assert matched / checked >= 0.7, misses  # measured 14/19


def _lf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


class _MemoryBlobs:
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def put(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        self.data[sha] = data
        return sha

    def put_stream(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        data = b"".join(chunks)
        return self.put(data), len(data)


def test_cutting_base64_runs_changes_no_parse(corpus: Path, session_blobs: FileBlobStore) -> None:
    """Differential: every message parses the same with even tiny line runs cut out (the
    large-attachment path of ``large_parts``) as when the stdlib parser sees it whole."""
    from postdesk.inbound import large_parts
    from tests.inbound.test_large_parts import _summary

    def parsed(raw: bytes, min_run: int) -> tuple:
        original = large_parts.MIN_RUN
        large_parts.MIN_RUN = min_run
        try:
            return _summary(parse_message(raw, session_blobs))
        except ParseError as exc:
            return ("ParseError", str(exc))
        finally:
            large_parts.MIN_RUN = original

    cut = differ = 0
    files = _message_files(corpus)
    for path in files:
        raw = path.read_bytes()
        if not large_parts.cut_large_runs(raw, 8).spans:
            continue
        cut += 1
        if parsed(raw, 8) != parsed(raw, 10**12):
            differ += 1
            print("differs:", path.relative_to(corpus))
    print(f"\n{len(files)} messages, {cut} with runs cut, {differ} parsed differently")
    assert cut > 300 and differ == 0
