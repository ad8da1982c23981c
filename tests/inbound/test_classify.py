from __future__ import annotations

from postdesk.inbound.classify import Classification, classify
from postdesk.inbound.parse import parse_message
from postdesk.store.blobs import FileBlobStore
from postdesk.threading.tokens import make_message_id

KEY = b"k" * 32


def _run(
    blobs: FileBlobStore, raw: bytes, envelope_from: str = "someone@example.com"
) -> Classification:
    return classify(parse_message(raw, blobs), raw, envelope_from=envelope_from, keys=[KEY])


def mail(*headers: str, body: str = "Hello there") -> bytes:
    return ("\r\n".join(headers) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode()


def test_normal_mail(blobs: FileBlobStore) -> None:
    c = _run(blobs, mail("From: a@b.example", "Subject: my printer is broken"))
    assert (c.kind, c.may_auto_respond, c.may_open_ticket, c.bounce) == ("normal", True, True, None)


def test_our_own_message_id_is_a_loop(blobs: FileBlobStore) -> None:
    mid = make_message_id("support.example", 42, KEY)
    c = _run(blobs, mail("From: support@support.example", f"Message-ID: <{mid}>"))
    assert c.kind == "loop" and not c.may_open_ticket and not c.may_auto_respond
    forged = make_message_id("support.example", 42, b"other key")
    assert _run(blobs, mail("From: x@y.example", f"Message-ID: <{forged}>")).kind == "normal"


def test_rewritten_message_id_with_ticket_header_is_a_loop(blobs: FileBlobStore) -> None:
    mid = make_message_id("support.example", 7, KEY)
    raw = mail(
        "From: support@support.example",
        "Message-ID: <relay-rewrote@relay.example>",
        f"X-Original-Message-ID: <{mid}>",
        "X-Postdesk-Ticket: 7",
    )
    assert _run(blobs, raw).kind == "loop"
    # a customer's reply quoting our id in References is not a loop
    reply = mail("From: c@customer.example", f"References: <{mid}>", f"In-Reply-To: <{mid}>")
    assert _run(blobs, reply).kind == "normal"


DSN = (
    "From: Mail Delivery System <MAILER-DAEMON@mx.example>",
    "To: support@support.example",
    "Subject: Undelivered Mail Returned to Sender",
    "Auto-Submitted: auto-replied",
    "MIME-Version: 1.0",
    'Content-Type: multipart/report; report-type=delivery-status; boundary="B"',
)
DSN_BODY = """--B
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.
--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example

Final-Recipient: rfc822; Gone@Customer.example
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 user unknown

Final-Recipient: rfc822; slow@customer.example
Action: delayed
Status: 4.4.7

Final-Recipient: rfc822; fine@customer.example
Action: delivered
Status: 2.0.0
--B
Content-Type: text/rfc822-headers

From: support@support.example
Message-ID: <Original@Support.example>
Subject: Re: your ticket
--B--
"""


def test_dsn_bounce_checked_before_auto_submitted(blobs: FileBlobStore) -> None:
    c = _run(blobs, mail(*DSN, body=DSN_BODY), envelope_from="")
    assert c.kind == "bounce"
    assert not c.may_open_ticket and not c.may_auto_respond
    assert c.bounce is not None
    assert c.bounce.recipients == (
        ("gone@customer.example", "5.1.1", True),
        ("slow@customer.example", "4.4.7", False),
    )
    assert c.bounce.original_message_id == "original@support.example"
    assert any("report-type=delivery-status" in r for r in c.reasons)


def test_plain_text_bounce_from_null_sender(blobs: FileBlobStore) -> None:
    body = """Hi. This is the qmail-send program at mx.example.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<nobody@customer.example>:
192.0.2.1 does not like recipient.
Remote host said: 550 5.1.1 <nobody@customer.example>: Recipient address rejected

--- Below this line is a copy of the message.

Return-Path: <support@support.example>
Message-ID: <abc@support.example>
To: nobody@customer.example
"""
    raw = mail(
        "From: MAILER-DAEMON@mx.example",
        "To: support@support.example",
        "Subject: failure notice",
        body=body,
    )
    c = _run(blobs, raw, envelope_from="")
    assert c.kind == "bounce" and c.bounce is not None
    assert c.bounce.recipients == (("nobody@customer.example", "5.1.1", True),)
    assert c.bounce.original_message_id == "abc@support.example"


def test_daemon_name_without_bounce_wording_is_not_a_bounce(blobs: FileBlobStore) -> None:
    raw = mail("From: postmaster@partner.example", "Subject: question about our invoice")
    assert _run(blobs, raw, envelope_from="postmaster@partner.example").kind == "normal"


def test_auto_submitted_values(blobs: FileBlobStore) -> None:
    no = _run(blobs, mail("From: a@b.example", "Auto-Submitted: no"))
    assert no.kind == "normal" and no.may_auto_respond
    replied = _run(blobs, mail("From: a@b.example", "Auto-Submitted: auto-replied"))
    assert (replied.kind, replied.may_open_ticket, replied.may_auto_respond) == (
        "auto_reply",
        False,
        False,
    )
    generated = _run(blobs, mail("From: alerts@monitor.example", "Auto-Submitted: auto-generated"))
    assert (generated.kind, generated.may_open_ticket, generated.may_auto_respond) == (
        "auto_reply",
        True,
        False,
    )


def test_vendor_headers_and_precedence(blobs: FileBlobStore) -> None:
    assert _run(blobs, mail("From: a@b.example", "X-Autoreply: yes")).kind == "auto_reply"
    bulk = _run(blobs, mail("From: shop@b.example", "Precedence: bulk"))
    assert (bulk.kind, bulk.may_open_ticket, bulk.may_auto_respond) == ("auto_reply", True, False)
    oof = _run(blobs, mail("From: a@b.example", "Precedence: auto_reply"))
    assert not oof.may_open_ticket


def test_vacation_subject_is_weak_alone(blobs: FileBlobStore) -> None:
    alone = _run(blobs, mail("From: a@b.example", "Subject: Out of office next week?"))
    assert alone.kind == "normal" and alone.may_open_ticket and not alone.may_auto_respond
    with_body = _run(
        blobs,
        mail(
            "From: a@b.example",
            "Subject: Automatische Antwort: Rechnung",
            body="I am out of the office until Monday.",
        ),
    )
    assert with_body.kind == "auto_reply" and not with_body.may_open_ticket
    suppress = _run(
        blobs,
        mail("From: a@b.example", "Subject: Automatic reply: hi", "X-Auto-Response-Suppress: All"),
    )
    assert suppress.kind == "auto_reply"


def test_suppress_header_alone_only_withholds_auto_response(blobs: FileBlobStore) -> None:
    c = _run(blobs, mail("From: a@b.example", "X-Auto-Response-Suppress: All"))
    assert c.kind == "normal" and c.may_open_ticket and not c.may_auto_respond


def test_list_mail(blobs: FileBlobStore) -> None:
    c = _run(blobs, mail("From: a@b.example", "List-Id: <users.lists.example>", "Precedence: list"))
    assert (c.kind, c.may_open_ticket, c.may_auto_respond) == ("list", True, False)
    newsletter = _run(blobs, mail("From: news@b.example", "List-Unsubscribe: <mailto:u@b.example>"))
    assert newsletter.kind == "normal" and not newsletter.may_auto_respond


def test_read_receipt(blobs: FileBlobStore) -> None:
    raw = mail(
        "From: a@b.example",
        "MIME-Version: 1.0",
        'Content-Type: multipart/report; report-type=disposition-notification; boundary="B"',
        body="--B\r\nContent-Type: text/plain\r\n\r\nread\r\n--B--\r\n",
    )
    c = _run(blobs, raw)
    assert c.kind == "auto_reply" and not c.may_open_ticket
