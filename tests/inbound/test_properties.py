"""Property tests: random and mutated messages through receive → parse → classify → thread →
store. Whatever the bytes, nothing escapes as an exception and every message ends either
processed (on a ticket, or dropped with a reason) or failed with its error — never half
stored (a Message row whose inbox row is not processed)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from postdesk.gateway.accept import ProcessingDeferred
from postdesk.gateway.app import App
from postdesk.gateway.settings import Settings
from postdesk.inbound.message import Envelope
from postdesk.store.enums import InboxState
from postdesk.store.models import InboxItem, Message
from tests.support.databases import sqlite_copy

HEADER_NAMES = [
    "From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
    "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "MIME-Version",
    "Auto-Submitted", "Precedence", "List-Id", "X-Autoreply", "Return-Path", "Reply-To",
    "X-Auto-Response-Suppress", "X-Postdesk-Ticket", "X-Original-Message-ID",
]  # fmt: skip
CHARSETS = [
    "utf-8", "iso-8859-1", "windows-1252", "iso-2022-jp", "shift_jis", "koi8-r", "gb18030",
    "utf-16", "utf-7", "x-unknown", "", "us-ascii", "big5", "\x00",
]  # fmt: skip
ENCODINGS = ["7bit", "8bit", "base64", "quoted-printable", "binary", "x-uuencode", "junk"]
LEAF_TYPES = [
    "text/plain", "text/html", "application/pdf", "application/ms-tnef", "image/png",
    "message/rfc822", "message/delivery-status", "text/rfc822-headers", "application/x-junk",
]  # fmt: skip
ADDRESSES = [
    "Ana <ana@client.example>", "support@example.com", "MAILER-DAEMON@mx.example",
    "undisclosed-recipients:;", "<>", "=?utf-8?b?w7w=?= <x@y.example>", "no address",
]  # fmt: skip

junk_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80)
junk_bytes = st.binary(max_size=80)
header_value = st.one_of(
    junk_text.map(str.encode),
    junk_bytes.map(lambda b: b.replace(b"\r", b"").replace(b"\n", b" ")),
    st.sampled_from(ADDRESSES).map(str.encode),
    st.sampled_from(["auto-replied", "no", "bulk", "list", "<id@x>", "<a@b> <c@d>"]).map(
        str.encode
    ),
    junk_text.map(lambda t: f"=?utf-8?b?{base64.b64encode(t.encode()).decode()}?=".encode()),
)
header = st.tuples(
    st.one_of(st.sampled_from(HEADER_NAMES), st.text("abcXYZ-", min_size=1, max_size=12)),
    header_value,
)


def _leaf() -> st.SearchStrategy[bytes]:
    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        ctype = draw(st.sampled_from(LEAF_TYPES))
        charset = draw(st.sampled_from(CHARSETS))
        cte = draw(st.sampled_from(ENCODINGS))
        name = draw(st.one_of(st.none(), junk_text))
        body = draw(st.one_of(junk_bytes, junk_text.map(str.encode)))
        if cte == "base64" and draw(st.booleans()):
            body = base64.encodebytes(body)
        head = f'Content-Type: {ctype}; charset="{charset}"\r\nContent-Transfer-Encoding: {cte}\r\n'
        if name is not None:
            head += f'Content-Disposition: attachment; filename="{name}"\r\n'
        return head.encode("utf-8", "surrogateescape") + b"\r\n" + body

    return build()


def _multipart(children: st.SearchStrategy[list[bytes]]) -> st.SearchStrategy[bytes]:
    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        parts = draw(children)
        boundary = draw(st.sampled_from(["b1", "b2", "=_x", "", "same"]))
        subtype = draw(st.sampled_from(["mixed", "alternative", "related", "report", "digest"]))
        body = b"".join(b"--" + boundary.encode() + b"\r\n" + p + b"\r\n" for p in parts)
        if draw(st.booleans()):
            body += b"--" + boundary.encode() + b"--\r\n"
        head = f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n'
        return head.encode() + b"\r\n" + body

    return build()


mime_tree = st.recursive(_leaf(), lambda kids: _multipart(st.lists(kids, max_size=4)), max_leaves=8)


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    headers = draw(st.lists(header, max_size=12))
    head = b"".join(k.encode() + b": " + v + b"\r\n" for k, v in headers)
    raw = head + draw(mime_tree)
    mutation = draw(st.sampled_from(["none", "truncate", "flip", "lf", "insert", "drop-head"]))
    if mutation == "truncate" and raw:
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif mutation == "flip" and raw:
        i = draw(st.integers(0, len(raw) - 1))
        raw = raw[:i] + bytes([raw[i] ^ draw(st.integers(1, 255))]) + raw[i + 1 :]
    elif mutation == "lf":
        raw = raw.replace(b"\r\n", b"\n")
    elif mutation == "insert":
        i = draw(st.integers(0, len(raw)))
        raw = raw[:i] + draw(junk_bytes) + raw[i:]
    elif mutation == "drop-head":
        raw = raw.split(b"\r\n\r\n", 1)[-1]
    return raw


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[App]:
    tmp = tmp_path_factory.mktemp("properties")
    application = App(
        Settings(
            data_dir=tmp / "var",
            database_url=sqlite_copy(sqlite_template, tmp),
            support_addresses=["support@example.com"],
            secret_key="test-secret-key-0123456789",
        )
    )
    yield application
    application.close()


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(raw=messages(), sender=st.sampled_from(["", "ana@client.example", "x@y.example"]))
def test_every_message_ends_processed_or_failed(app: App, raw: bytes, sender: str) -> None:
    if not raw.strip():
        return  # the adapters refuse empty input before it is stored (ingest: exit 65)
    envelope = Envelope(mail_from=sender, rcpt_to=("support@example.com",), source="ingest")
    try:
        accepted = app.accept(raw, envelope)
    except ProcessingDeferred:
        accepted = None  # failed and stored: the row says why
    with app.db.sessions() as s:
        inbox_id = (
            accepted.received.inbox_id
            if accepted is not None
            else s.scalar(select(func.max(InboxItem.id)))
        )
        row = s.get(InboxItem, inbox_id)
        assert row is not None
        event(f"{row.state} {'on a ticket' if row.ticket_id else row.classification}")
        if row.state == InboxState.FAILED:
            event(f"failed: {(row.error or '')[:70]}")
        if row.state == InboxState.DUPLICATE:
            return  # the same Message-ID from the same sender again: recorded, not ingested
        stored = s.scalar(
            select(func.count()).select_from(Message).where(Message.inbox_id == row.id)
        )
        if row.state == InboxState.FAILED:
            assert row.error, "failed without a reason"
            assert stored == 0, "a failed message left a half-stored Message"
        else:
            assert row.state == InboxState.PROCESSED, row.state
            if row.ticket_id is None:
                assert row.error, "dropped without a reason"
                assert stored == 0
            else:
                assert stored == 1
        # No Message anywhere belongs to an inbox row that is not processed.
        orphans = s.scalar(
            select(func.count())
            .select_from(Message)
            .join(InboxItem, InboxItem.id == Message.inbox_id)
            .where(InboxItem.state != InboxState.PROCESSED)
        )
        assert orphans == 0
