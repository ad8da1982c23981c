"""Large base64 runs cut out before the stdlib parser: the parsed result must be exactly what
parsing the whole message gives (differential), with attachments streamed byte-for-byte."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from postdesk.inbound import large_parts
from postdesk.inbound.message import InboundMessage
from postdesk.inbound.parse import parse_message
from postdesk.store.blobs import FileBlobStore
from tests.corpus.build import binary_part, mime_message, multipart, std, text_part, tnef

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def _summary(msg: InboundMessage) -> tuple:
    return (
        msg.subject,
        msg.text,
        msg.text_new,
        msg.html,
        [(a.filename, a.content_type, a.size, a.sha256, a.inline) for a in msg.attachments],
        msg.defects,
    )


def _both(raw: bytes, blobs: FileBlobStore, monkeypatch: pytest.MonkeyPatch, min_run: int):
    monkeypatch.setattr(large_parts, "MIN_RUN", 10**12)
    whole = parse_message(raw, blobs)
    monkeypatch.setattr(large_parts, "MIN_RUN", min_run)
    assert large_parts.cut_large_runs(raw).spans, "nothing was cut: the test proves nothing"
    return whole, parse_message(raw, blobs)


def test_big_attachment_streams_byte_for_byte(
    blobs: FileBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(700_000)
    ctype, body = multipart(
        "mixed", [text_part("Scan attached."), binary_part(data, "application/pdf",
                                                          'filename="scan.pdf"')], "b1"
    )  # fmt: skip
    raw = mime_message(std("Scan", "scan@client.example"), ctype, body)
    whole, cut = _both(raw, blobs, monkeypatch, large_parts.MIN_RUN)
    assert _summary(cut) == _summary(whole)
    (att,) = cut.attachments
    assert att.sha256 == hashlib.sha256(data).hexdigest() and att.size == len(data)
    assert blobs.get(att.sha256) == data


def test_big_base64_text_body_tnef_and_forward(
    blobs: FileBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "Zeile mit Umlauten: Grüße.\n" * 20_000
    files = [("big.bin", os.urandom(300_000)), ("notes.txt", b"notes")]
    inner = mime_message(
        std("Inner", "inner@client.example"),
        *multipart("mixed", [text_part("inner text"),
                             binary_part(os.urandom(400_000), "image/png", 'filename="a.png"')],
                   "in1"),
    )  # fmt: skip
    ctype, body = multipart(
        "mixed",
        [
            text_part(text, cte="base64"),
            binary_part(tnef(files), "application/ms-tnef", 'filename="winmail.dat"'),
            ([("Content-Type", "message/rfc822")], inner),
        ],
        "b2",
    )
    raw = mime_message(std("Mixed", "mixed@client.example"), ctype, body)
    whole, cut = _both(raw, blobs, monkeypatch, 200_000)
    assert _summary(cut) == _summary(whole)
    assert cut.text.startswith("Zeile mit Umlauten: Grüße.\nZeile")
    names = sorted(a.filename for a in cut.attachments)
    assert names == ["Inner.eml", "big.bin", "notes.txt"]
    eml = next(a for a in cut.attachments if a.filename == "Inner.eml")
    assert b"PostdeskCutRun" not in blobs.get(eml.sha256)


def test_truncated_and_bare_lf(blobs: FileBlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    data = os.urandom(500_000)
    ctype, body = multipart(
        "mixed", [text_part("cut"), binary_part(data, "application/pdf", 'filename="t.pdf"')], "b3"
    )
    raw = mime_message(std("Cut", "cut@client.example"), ctype, body)
    for variant in (raw[: len(raw) - 1000], raw.replace(b"\r\n", b"\n"), raw[:-13]):
        whole, cut = _both(variant, blobs, monkeypatch, 100_000)
        assert _summary(cut) == _summary(whole)


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.eml")), ids=lambda p: p.stem)
def test_acceptance_corpus_parses_the_same_when_cut(
    path: Path, blobs: FileBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every corpus message, with even short runs (text lines, headers of forwards) cut."""
    raw = path.read_bytes()
    monkeypatch.setattr(large_parts, "MIN_RUN", 10**12)
    whole = parse_message(raw, blobs)
    monkeypatch.setattr(large_parts, "MIN_RUN", 8)
    assert _summary(parse_message(raw, blobs)) == _summary(whole)


def test_bounce_returning_a_big_attachment_classifies_the_same(
    blobs: FileBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from postdesk.inbound.classify import classify

    original = mime_message(
        std("Your documents", "pd.1.abc@example.com", frm="support@example.com"),
        *multipart("mixed", [text_part("Attached."),
                             binary_part(os.urandom(1_500_000), "application/pdf",
                                         'filename="big.pdf"')], "o1"),
    )  # fmt: skip
    status = (
        b"Reporting-MTA: dns; mx.client.example\r\n\r\nFinal-Recipient: rfc822; gone@client.example"
        b"\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    )
    ctype, body = multipart(
        "report",
        [
            text_part("Your message could not be delivered to gone@client.example."),
            ([("Content-Type", "message/delivery-status")], status),
            ([("Content-Type", "message/rfc822")], original),
        ],
        "r1",
        "; report-type=delivery-status",
    )
    raw = mime_message(std("Undelivered Mail", "dsn@mx.example", frm="MAILER-DAEMON@mx.example"),
                       ctype, body)  # fmt: skip
    assert large_parts.cut_large_runs(raw, large_parts.MIN_RUN * 4).spans
    msg = parse_message(raw, blobs)
    cut = classify(msg, raw, envelope_from="", keys=[b"k"])
    monkeypatch.setattr(large_parts, "MIN_RUN", 10**12)
    assert classify(msg, raw, envelope_from="", keys=[b"k"]) == cut
    assert cut.kind == "bounce" and cut.bounce is not None
    assert cut.bounce.original_message_id == "pd.1.abc@example.com"
    assert [r.address for r in cut.bounce.recipients] == ["gone@client.example"]
