"""The bytes we send: threading headers, loop-stopping headers, encodings any client reads."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

import pytest

from postdesk.outbound.compose import HeaderError, OutgoingMail, build_message, thread_references

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def mail(**changes) -> OutgoingMail:  # type: ignore[no-untyped-def]
    base = dict(
        kind="ack",
        ticket_id=42,
        from_address="support@example.com",
        from_name="Société Support",
        to=("ana@client.example",),
        cc=(),
        subject="[#42] Grüße aus Köln",
        text="Danke für Ihre Nachricht.\n",
        html=None,
        message_id="pd.42.abc.sig@example.com",
        reply_to="support+42-abcdefghij@example.com",
        in_reply_to="orig@client.example",
        references=("orig@client.example",),
        automatic=True,
    )
    return OutgoingMail(**(base | changes))  # type: ignore[arg-type]


def parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def test_threading_and_loop_headers() -> None:
    raw = build_message(mail(), NOW)
    msg = parsed(raw)
    assert msg["Message-ID"] == "<pd.42.abc.sig@example.com>"
    assert msg["In-Reply-To"] == "<orig@client.example>"
    assert msg["References"] == "<orig@client.example>"
    assert msg["Reply-To"] == "support+42-abcdefghij@example.com"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["Precedence"] == "bulk"
    assert msg["X-Postdesk-Ticket"] == "42"
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only


def test_non_ascii_subject_name_and_body_survive() -> None:
    msg = parsed(build_message(mail(), NOW))
    assert msg["Subject"] == "[#42] Grüße aus Köln"
    assert msg["From"].addresses[0].display_name == "Société Support"
    body = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")  # wire form is CRLF
    assert body == "Danke für Ihre Nachricht.\n"
    assert build_message(mail(), NOW).isascii()  # 7-bit: any relay takes it


def test_html_alternative_and_human_mail_without_auto_headers() -> None:
    msg = parsed(build_message(mail(html="<p>Hallo</p>", automatic=False, kind="reply"), NOW))
    assert msg.get_content_type() == "multipart/alternative"
    assert "<p>Hallo</p>" in msg.get_body(("html",)).get_content()
    assert msg["Auto-Submitted"] is None and msg["Precedence"] is None


def test_newline_in_subject_is_refused() -> None:
    with pytest.raises(HeaderError):
        build_message(mail(subject="Hi\r\nBcc: victim@example.com"), NOW)


def test_long_threads_keep_first_and_newest_references() -> None:
    chain = thread_references([f"m{i}@x" for i in range(40)], "parent@x")
    assert chain[0] == "m0@x" and chain[-1] == "parent@x" and len(chain) == 20
