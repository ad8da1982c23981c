"""The bytes we send: threading headers, loop-stopping headers, encodings any client reads."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postdesk.outbound.compose import (
    HeaderError,
    OutgoingMail,
    _direct_message,
    _library_message,
    build_message,
    thread_references,
)

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


def test_attachments_make_a_mixed_message_with_readable_names() -> None:
    from postdesk.outbound.compose import OutgoingAttachment

    files = (
        OutgoingAttachment("Plan März.pdf", "application/pdf", b"%PDF-1.4 \x00\xff"),
        OutgoingAttachment("photo.png", "image/png", b"\x89PNG\r\n"),
    )
    msg = parsed(build_message(mail(attachments=files, html="<p>Danke</p>"), NOW))
    assert msg.get_content_type() == "multipart/mixed"
    assert msg.get_body(("plain",)).get_content().startswith("Danke")
    got = [
        (p.get_filename(), p.get_content_type(), p.get_content()) for p in msg.iter_attachments()
    ]
    assert got == [(f.filename, f.content_type, f.data) for f in files]
    assert msg["In-Reply-To"] == "<orig@client.example>"


# The direct build (text, or text and HTML) against the standard library's, which attachments
# still use: a reader must see the same headers and the same decoded text in both.
_line_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"))
_body = st.lists(
    st.one_of(
        _line_text,
        st.sampled_from(["", ".", "From here", "a=b", "trailing space ", "tab\t", "x" * 200]),
    ),
    max_size=12,
).map("\n".join)


def _readable(raw: bytes) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    msg = parsed(raw)
    skip = {"content-type", "mime-version", "content-transfer-encoding"}
    headers = [(k, str(v)) for k, v in msg.items() if k.lower() not in skip]
    parts = [(p.get_content_type(), p.get_content()) for p in msg.walk() if not p.is_multipart()]
    return headers, parts


@settings(max_examples=300, deadline=None)
@given(
    subject=_line_text,
    name=_line_text,
    text=_body,
    html=st.none() | _body,
    refs=st.lists(st.from_regex(r"[a-z0-9.]{1,40}@[a-z]{1,12}\.example", fullmatch=True)),
)
def test_direct_build_reads_as_the_library_build(
    subject: str, name: str, text: str, html: str | None, refs: list[str]
) -> None:
    m = mail(
        subject=subject,
        from_name=name,
        text=text,
        html=html,
        references=tuple(refs),
        cc=("cc@client.example",),
    )
    direct, library = _direct_message(m, NOW), _library_message(m, NOW)
    assert _readable(direct) == _readable(library)
    # Folded exactly as the library folds (only the boundary differs), and the bodies'
    # quoted-printable lines within 76 characters.
    head, _, body = direct.partition(b"\r\n\r\n")
    assert _own_header_lines(head) == _own_header_lines(library.partition(b"\r\n\r\n")[0])
    assert [line for line in body.split(b"\r\n") if len(line) > 76] == []
    assert b"\n" not in direct.replace(b"\r\n", b""), "a bare LF"
    assert parsed(direct).defects == []


def _own_header_lines(head: bytes) -> list[bytes]:
    """The header block as folded, one entry per header, without the MIME headers."""
    fields: list[bytes] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\r\n" + line
        else:
            fields.append(line)
    mime = (b"Content-Type:", b"MIME-Version:", b"Content-Transfer-Encoding:")
    return [f for f in fields if not f.startswith(mime)]
