"""Hard mail: charsets, raw 8-bit and broken headers, NUL and control bytes in the text.
All of it is a person's message: normal, a new ticket."""

from __future__ import annotations

import base64

from tests.corpus.build import (
    Case,
    headers_block,
    message,
    std,
    text_part,
)

JA = "請求書の金額が間違っています。ご確認ください。"
RU = "Здравствуйте, у меня не работает принтер."
DE = "Grüße aus Köln, die Rechnung ist falsch."
ZH = "您好，我的发票金额不对，请核实。"


def charsets() -> list[Case]:
    bodies = [
        ("iso-2022-jp", "7bit", JA),
        ("shift_jis", "8bit", JA),
        ("euc-jp", "8bit", JA),
        ("gb18030", "8bit", ZH),
        ("gb2312", "base64", ZH),
        ("koi8-r", "8bit", RU),
        ("windows-1251", "quoted-printable", RU),
        ("iso-8859-1", "8bit", DE),
        ("iso-8859-1", "quoted-printable", DE),
        ("windows-1252", "8bit", "“Smart quotes” cost 20 € – " + DE),
        ("iso-8859-15", "8bit", "Prix: 20 € - " + DE),
        ("utf-8", "base64", DE + " " + JA),
        ("utf-8", "quoted-printable", RU + " " + DE),
    ]
    cases = []
    for n, (charset, cte, text) in enumerate(bodies, 1):
        name = f"charset-{charset}-{n:02d}"
        hdrs, body = text_part(text, charset, cte)
        raw = headers_block(std(f"Charset {charset}", f"{name}@client.example") + hdrs)
        cases.append(
            Case(
                name,
                raw + b"\r\n" + body,
                "normal",
                "new",
                has=[text[-12:]],
                note=f"{charset} body, {cte}",
            )
        )
    lies = [
        ("mislabelled-latin1-as-utf8", "utf-8", DE.encode("latin-1"), "Rechnung ist falsch"),
        ("cp1252-labelled-latin1", "iso-8859-1", "Preis 20 € – ok".encode("cp1252"), "Preis 20"),
        ("unknown-charset", "x-unknown", DE.encode(), DE),
        ("no-charset-8bit-utf8", None, DE.encode(), DE),
        ("no-charset-8bit-latin1", None, DE.encode("latin-1"), DE),
        ("utf7", "utf-7", DE.encode("utf-7"), DE),
    ]
    for n, (label, charset, data, expect) in enumerate(lies, 1):
        name = f"charset-{label}-{n:02d}"
        ctype = f'text/plain; charset="{charset}"' if charset else "text/plain"
        hdrs = std(
            f"Charset {label}",
            f"{name}@client.example",
            extra=[("Content-Type", ctype), ("Content-Transfer-Encoding", "8bit")],
        )
        cases.append(
            Case(
                name,
                message(hdrs, data),
                "normal",
                "new",
                has=[expect],
                note=f"declared {charset}, really something else",
            )
        )
    subjects = [
        ("=?ISO-2022-JP?B?GyRCOjAbKEI=?= invoice", "invoice"),
        ("=?koi8-r?B?" + base64.b64encode("Принтер".encode("koi8-r")).decode() + "?=", "Принтер"),
        ("=?utf-8?q?Gr=C3=BC=C3=9Fe?= =?utf-8?q?_aus_K=C3=B6ln?=", "Grüße aus Köln"),
        ("=?iso-8859-1?Q?Rechnung_M=E4rz?=", "Rechnung März"),
        ("=?gb18030?B?" + base64.b64encode("发票".encode("gb18030")).decode() + "?=", "发票"),
        ("=?utf-8?B?broken base64!!?= tail", "tail"),
    ]
    for n, (subject, expect) in enumerate(subjects, 1):
        name = f"header-rfc2047-{n:02d}"
        raw = message(std(subject, f"{name}@client.example"), "Body text here.")
        cases.append(
            Case(
                name,
                raw,
                "normal",
                "new",
                has=["Body text"],
                extra={"subject_has": expect},
                note=f"encoded subject {subject[:30]}",
            )
        )
    raw8 = [
        ("utf8", "Grüße aus Köln".encode(), "Grüße aus Köln"),
        ("latin1", "Grüße aus Köln".encode("latin-1"), "Grüße aus Köln"),
        ("cp1252", "Preis – 20 €".encode("cp1252"), "Preis – 20 €"),
        ("shiftjis", "請求書".encode("cp932"), ""),
    ]
    for n, (label, subject, expect) in enumerate(raw8, 1):
        name = f"header-raw8bit-{label}-{n:02d}"
        hdrs = std(
            subject,
            f"{name}@client.example",
            frm=b"J\xc3\xbcrgen M\xc3\xbcller <juergen@client.example>",
        )
        cases.append(
            Case(
                name,
                message(hdrs, "Raw 8-bit header bytes."),
                "normal",
                "new",
                has=["Raw 8-bit"],
                extra={"subject_has": expect} if expect else {},
                note=f"raw {label} bytes in Subject and From",
            )
        )
    return cases


def broken_headers() -> list[Case]:
    cases = []

    def add(name: str, raw: bytes, note: str, has: str = "", **extra: object) -> None:
        cases.append(
            Case(name, raw, "normal", "new", has=[has] if has else [], note=note, extra=dict(extra))
        )

    body = "Please help with my account."
    add("headers-no-message-id-01", message(std("No id", None), body), "no Message-ID", body)
    add(
        "headers-no-message-id-02",
        message(std("Empty id", None, extra=[("Message-ID", "")]), body + " 2"),
        "an empty Message-ID",
        body,
    )
    add(
        "headers-no-message-id-03",
        message(std("Junk id", None, extra=[("Message-ID", "not an id at all")]), body + " 3"),
        "a Message-ID without brackets or @",
        body,
    )
    add(
        "headers-no-from-01",
        message(std("No From", "nofrom-1@client.example", frm=None), body),
        "no From header",
        body,
    )
    add(
        "headers-no-from-02",
        message(std("Bad From", "nofrom-2@client.example", frm="Ana Client"), body),
        "From without an address",
        body,
    )
    add(
        "headers-no-from-03",
        message(std("Group", "nofrom-3@client.example", frm="undisclosed-recipients:;"), body),
        "From is an empty group",
        body,
    )
    for n, date in enumerate(
        [
            "Mon, 32 Foo 2026 25:61:00 +9999",
            "yesterday",
            "",
            "0",
            "Tue, 3 Nov 2026 10:00:00 GMT+0100 (CET)",
        ],
        1,
    ):
        add(
            f"headers-bad-date-{n:02d}",
            message(std("Bad date", f"bad-date-{n}@client.example", date=date), f"{body} {n}"),
            f"Date: {date!r}",
            body,
        )
    dup = [
        *std("First subject", "dup-1@client.example"),
        ("Subject", "Second subject"),
        ("Message-ID", "<dup-1-second@client.example>"),
        ("From", "Other <other@client.example>"),
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Type", "text/html"),
    ]
    add(
        "headers-duplicated-01",
        message(dup, body),
        "every header twice",
        body,
        subject_has="First subject",
    )
    add(
        "headers-bare-lf-01",
        message(std("Bare LF", "bare-lf-1@client.example"), body + "\nSecond line.", eol=b"\n"),
        "bare LF line ends everywhere",
        "Second line",
    )
    mixed = message(std("Mixed", "mixed-eol@client.example"), "") + b"line one\nline two\r\n"
    add("headers-mixed-eol-01", mixed, "CRLF headers, LF body", "line two")
    cr = message(std("Old Mac", "cr-only@client.example"), "").replace(b"\r\n", b"\r")
    add(
        "headers-cr-only-01",
        cr + b"line one\rline two\r",
        "classic Mac CR-only line ends",
        "line one",
    )
    long_refs = " ".join(f"<ref{i}@client.example>" for i in range(4000))
    add(
        "headers-huge-references-01",
        message(
            std("Huge refs", "huge-refs@client.example", extra=[("References", long_refs)]), body
        ),
        "an 90 KB References line",
        body,
    )
    add(
        "headers-huge-subject-01",
        message(std("S" * 20000, "huge-subject@client.example"), body),
        "a 20 KB unfolded Subject",
        body,
    )
    add(
        "headers-huge-line-body-01",
        message(std("Long body line", "long-line@client.example"), "x " * 60000 + "\nEnd."),
        "a 120 KB body line",
    )
    folded = message(
        std(
            "Folded\r\n\tacross\r\n  lines",
            "folded@client.example",
            extra=[("X-Junk", "a\r\n\r\n")],
        ),
        body,
    )
    add("headers-folding-01", folded, "folded Subject, and an empty continuation", "")
    garbage = (
        b"From: Ana <ana@client.example>\r\nThis line has no colon\r\n"
        b"Subject: garbage in headers\r\nMessage-ID: <garbage@client.example>\r\n\r\n"
        + body.encode()
    )
    add("headers-no-colon-01", garbage, "a header line without a colon", "")
    junk = std(
        "Junk bytes",
        "junk-bytes@client.example",
        extra=[("X-Junk", b"\xff\xfe\x00\x01\x7f control"), ("Content-Type", "text/plain")],
    )
    add("headers-junk-bytes-01", message(junk, body), "NUL and 0xFF in a header", body)
    add(
        "headers-empty-body-01",
        message(std("Empty body", "empty-body@client.example"), ""),
        "no body at all",
    )
    add(
        "headers-only-01",
        b"Subject: just a subject\r\nFrom: ana@client.example\r\n",
        "headers and no blank line",
    )
    nul_body = message(
        std(
            "NUL", "nul-body@client.example", extra=[("Content-Type", "text/plain; charset=utf-8")]
        ),
        b"before\x00after and \x1b[31mred\x1b[0m text\x07.",
    )
    add(
        "body-nul-and-controls-01",
        nul_body,
        "NUL and escape bytes in the text",
        "after",
        text_lacks_chars=["\x00", "\x1b", "\x07"],
    )
    return cases


def all_cases() -> list[Case]:
    return [*charsets(), *broken_headers()]
