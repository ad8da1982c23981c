"""MIME structure: hostile attachment names, zero-byte parts, TNEF, HTML-only mail, nesting,
truncation and broken encodings. All of it is a person's message: normal, a new ticket."""

from __future__ import annotations

import base64

from tests.corpus.build import (
    Case,
    binary_part,
    message,
    mime_message,
    multipart,
    std,
    text_part,
    tnef,
)

DE = "Grüße aus Köln, die Rechnung ist falsch."


def _attach(name: str, params: str, expect: str, data: bytes = b"%PDF-1.4 test\n") -> Case:
    ctype, body = multipart(
        "mixed",
        [text_part("See the attachment."), binary_part(data, "application/pdf", params)],
        f"att-{name}",
    )
    raw = mime_message(std("Attachment", f"{name}@client.example"), ctype, body)
    return Case(
        name,
        raw,
        "normal",
        "new",
        has=["See the attachment"],
        extra={"attachments": [expect]},
        note=f"filename parameter: {params[:60]!r}",
    )


def attachments() -> list[Case]:
    names = [
        ('filename="=?UTF-8?B?UmVjaG51bmcgTcOkcnoucGRm?="', "Rechnung März.pdf"),
        ("filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf", "Rechnung März.pdf"),
        ("filename*=iso-8859-1'de'Gr%FC%DFe.pdf", "Grüße.pdf"),
        ("filename*0*=UTF-8''%E8%AB%8B%E6%B1%82; filename*1*=%E6%9B%B8.pdf", "請求書.pdf"),
        ('filename="../../etc/passwd"', "passwd"),
        ('filename="..\\\\..\\\\Windows\\\\system32\\\\evil.dll"', "evil.dll"),
        ('filename="/etc/shadow"', "shadow"),
        ("filename*=UTF-8''..%2F..%2Fetc%2Fpasswd", "passwd"),
        ("filename*=UTF-8''inv%00oice.pdf", "inv_oice.pdf"),
        ("filename*=UTF-8''a%0Db%0Ac%1B.pdf", "a_b_c_.pdf"),
        ("filename*=UTF-8''invoice%E2%80%AEfdp.exe", "invoice_fdp.exe"),
        ('filename=".."', "attachment-1.pdf"),
        ('filename="' + "a" * 300 + '.pdf"', "a" * 251 + ".pdf"),
        ('filename="' + "ü" * 200 + '.pdf"', "ü" * 200 + ".pdf"),
    ]
    cases = [_attach(f"attach-name-{n:02d}", p, e) for n, (p, e) in enumerate(names, 1)]
    nul_raw = _attach("attach-name-raw-nul-01", 'filename="x.pdf"', "x_y.pdf")
    nul_raw.raw = nul_raw.raw.replace(b'filename="x.pdf"', b'filename="x\x00y.pdf"')
    cases.append(nul_raw)
    cases.append(_attach("attach-zero-byte-01", 'filename="empty.txt"', "empty.txt", b""))
    return cases


def structure() -> list[Case]:
    cases = []
    # winmail.dat with two files inside.
    container = tnef([("report.pdf", b"%PDF-1.4 report"), ("notes.txt", b"meeting notes")])
    ctype, body = multipart(
        "mixed",
        [
            text_part("Outlook sent this as winmail.dat."),
            binary_part(container, "application/ms-tnef", 'filename="winmail.dat"'),
        ],
        "tnef-1",
    )
    cases.append(
        Case(
            "tnef-winmail-01",
            mime_message(std("TNEF", "tnef-1@client.example"), ctype, body),
            "normal",
            "new",
            has=["winmail.dat"],
            extra={"attachments": ["notes.txt", "report.pdf"]},
            note="TNEF unpacked into its files",
        )
    )
    ctype, body = multipart(
        "mixed",
        [
            text_part("A damaged winmail.dat."),
            binary_part(b"not tnef at all", "application/ms-tnef", 'filename="winmail.dat"'),
        ],
        "tnef-2",
    )
    cases.append(
        Case(
            "tnef-damaged-01",
            mime_message(std("TNEF", "tnef-2@client.example"), ctype, body),
            "normal",
            "new",
            has=["damaged"],
            extra={"attachments": ["winmail.dat"]},
            note="an unreadable container is kept as it is",
        )
    )
    html = (
        '<html><head><style>p{color:red}</style><script>alert("x")</script></head><body>'
        "<p>Hello,</p><p>my <b>order 991</b> never arrived.</p>"
        '<img src="https://track.example/pixel.gif"></body></html>'
    )
    hdrs = std(
        "HTML only",
        "html-only-1@client.example",
        extra=[("Content-Type", "text/html; charset=utf-8")],
    )
    cases.append(
        Case(
            "html-only-01",
            message(hdrs, html),
            "normal",
            "new",
            has=["order 991 never arrived"],
            lacks=["alert", "color:red"],
            note="HTML-only mail becomes text",
        )
    )
    hdrs = std(
        "HTML only latin1",
        "html-only-2@client.example",
        extra=[("Content-Type", "text/html; charset=iso-8859-1")],
    )
    cases.append(
        Case(
            "html-only-02",
            message(hdrs, f"<p>{DE}</p>".encode("latin-1")),
            "normal",
            "new",
            has=[DE],
            note="HTML-only in latin-1",
        )
    )
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA"
        "60e6kgAAAABJRU5ErkJggg=="
    )
    img = (
        [
            ("Content-Type", "image/png"),
            ("Content-Transfer-Encoding", "base64"),
            ("Content-ID", "<logo@client.example>"),
            ("Content-Disposition", 'inline; filename="logo.png"'),
        ],
        base64.encodebytes(png),
    )
    related = multipart(
        "related",
        [
            text_part('<p>See the error:</p><img src="cid:logo@client.example">', subtype="html"),
            img,
        ],
        "rel-1",
    )
    alt = multipart(
        "alternative", [text_part("See the error: [image]"), ([related[0]], related[1])], "alt-1"
    )
    mixed = multipart(
        "mixed",
        [([alt[0]], alt[1]), binary_part(b"log line\n", "text/plain", 'filename="app.log"')],
        "mix-1",
    )
    cases.append(
        Case(
            "nested-multipart-01",
            mime_message(std("Nested", "nested-1@client.example"), *mixed),
            "normal",
            "new",
            has=["See the error"],
            extra={"attachments": ["app.log", "logo.png"]},
            note="mixed(alternative(plain, related(html, cid image)), attachment)",
        )
    )
    part: tuple[list, bytes] = text_part("Deep inside forty levels.")
    for depth in range(40):
        ct, data = multipart("mixed", [part], f"deep-{depth}")
        part = ([ct], data)
    cases.append(
        Case(
            "nested-deep-01",
            mime_message(std("Deep", "deep-1@client.example"), part[0][0], part[1]),
            "normal",
            "new",
            note="multipart nested 40 deep",
        )
    )
    ct, data = multipart(
        "mixed",
        [
            text_part("Truncated multipart."),
            binary_part(b"x" * 3000, "application/pdf", 'filename="t.pdf"'),
        ],
        "trunc-1",
    )
    cases.append(
        Case(
            "multipart-truncated-01",
            mime_message(std("Cut", "trunc-1@client.example"), ct, data[: len(data) // 2]),
            "normal",
            "new",
            has=["Truncated multipart"],
            note="cut off mid-attachment",
        )
    )
    hdrs = std(
        "No boundary", "no-boundary-1@client.example", extra=[("Content-Type", "multipart/mixed")]
    )
    cases.append(
        Case(
            "multipart-no-boundary-01",
            message(hdrs, "Text with no boundary at all."),
            "normal",
            "new",
            note="multipart without a boundary parameter",
        )
    )
    ct, data = multipart(
        "mixed",
        [
            text_part("Bad base64 below."),
            (
                [
                    ("Content-Type", "application/pdf"),
                    ("Content-Transfer-Encoding", "base64"),
                    ("Content-Disposition", 'attachment; filename="b.pdf"'),
                ],
                b"JVBER!!!i0xLjQ*** garbage ===\r\nAAA",
            ),
        ],
        "b64-1",
    )
    cases.append(
        Case(
            "base64-garbage-01",
            mime_message(std("b64", "b64-1@client.example"), ct, data),
            "normal",
            "new",
            has=["Bad base64"],
            extra={"attachments": ["b.pdf"]},
            note="base64 with junk characters",
        )
    )
    return cases


def all_cases() -> list[Case]:
    return [*attachments(), *structure()]
