"""Replies from Gmail, Outlook, Apple Mail and Thunderbird in five languages, subject tags and
forwarded chains: the reply attaches to the first message's ticket and shows only new text."""

from __future__ import annotations

from tests.corpus.build import (
    CLIENT,
    Case,
    message,
    mime_message,
    multipart,
    std,
    text_part,
)

WHEN = "2 Nov 2026 10:00"
# language: (attribution line, Outlook header labels From/Sent/To/Subject, new text, original)
LANG = {
    "en": (
        f"On Mon, {WHEN}, Ana Client <ana@client.example> wrote:",
        ("From", "Sent", "To", "Subject"),
        "Thanks, the new password works now.",
        "I cannot log in to the portal since yesterday.",
    ),
    "de": (
        "Am Mo., 2. Nov. 2026 um 10:00 Uhr schrieb Ana Client <ana@client.example>:",
        ("Von", "Gesendet", "An", "Betreff"),
        "Danke, das neue Passwort funktioniert jetzt.",
        "Ich kann mich seit gestern nicht im Portal anmelden.",
    ),
    "fr": (
        "Le lun. 2 nov. 2026 à 10:00, Ana Client <ana@client.example> a écrit :",
        ("De ", "Envoyé ", "À ", "Objet "),
        "Merci, le nouveau mot de passe fonctionne maintenant.",
        "Je ne peux plus me connecter au portail depuis hier.",
    ),
    "es": (
        "El lun, 2 nov 2026 a las 10:00, Ana Client (<ana@client.example>) escribió:",
        ("De", "Enviado", "Para", "Asunto"),
        "Gracias, la nueva contraseña ya funciona.",
        "No puedo iniciar sesión en el portal desde ayer.",
    ),
    "nl": (
        "Op ma 2 nov. 2026 om 10:00 schreef Ana Client <ana@client.example>:",
        ("Van", "Verzonden", "Aan", "Onderwerp"),
        "Bedankt, het nieuwe wachtwoord werkt nu.",
        "Ik kan sinds gisteren niet inloggen op het portaal.",
    ),
}
SIGNATURE = "\n-- \nAna Client\nClient Example Ltd\n+31 20 555 0100\n"


def _quoted(text: str) -> str:
    return "\n".join("> " + line for line in text.split("\n"))


def _gmail(lang: str, mid: str, orig: str) -> bytes:
    attribution, _, new, old = LANG[lang]
    plain = f"{new}\n\n{attribution}\n\n{_quoted(old)}\n"
    html = (
        f'<div dir="ltr">{new}</div><br><div class="gmail_quote"><div dir="ltr" '
        f'class="gmail_attr">{attribution}<br></div><blockquote class="gmail_quote" '
        f'style="margin:0px 0px 0px 0.8ex">{old}</blockquote></div>'
    )
    ctype, body = multipart(
        "alternative",
        [
            text_part(plain, cte="quoted-printable"),
            text_part(html, subtype="html", cte="quoted-printable"),
        ],
        "gmail-" + mid[:12],
    )
    return mime_message(std("Re: Login", mid, reply_to_id=orig), ctype, body)


def _outlook(lang: str, mid: str, orig: str) -> bytes:
    _, (f, s, t, subj), new, old = LANG[lang]
    html = (
        f"<html><body><div>{new}</div><div>{SIGNATURE.strip().replace(chr(10), '<br>')}</div>"
        '<hr style="display:inline-block;width:98%"><div id="divRplyFwdMsg" dir="ltr">'
        f'<font face="Calibri"><b>{f}:</b> Ana Client &lt;ana@client.example&gt;<br>'
        f"<b>{s}:</b> Monday, November 2, 2026 10:00<br><b>{t}:</b> support@example.com<br>"
        f"<b>{subj}:</b> Login</font><div>&nbsp;</div></div><div>{old}</div></body></html>"
    )
    ctype, body = multipart(
        "alternative", [text_part(html, subtype="html", cte="base64")], "outlook-" + mid[:12]
    )
    return mime_message(std("RE: Login", mid, reply_to_id=orig), ctype, body)


def _outlook_text(lang: str, mid: str, orig: str) -> bytes:
    _, (f, s, t, subj), new, old = LANG[lang]
    plain = (
        f"{new}\n\n________________________________\n{f}: Ana Client <ana@client.example>\n"
        f"{s}: Monday, November 2, 2026 10:00\n{t}: support@example.com\n{subj}: Login\n\n{old}\n"
    )
    hdrs = std(
        "AW: Login" if lang == "de" else "RE: Login",
        mid,
        reply_to_id=orig,
        extra=[
            ("Content-Type", 'text/plain; charset="utf-8"'),
            ("Content-Transfer-Encoding", "8bit"),
        ],
    )
    return message(hdrs, plain)


def _apple(lang: str, mid: str, orig: str) -> bytes:
    attribution, _, new, old = LANG[lang]
    html = (
        f'<html><body dir="auto"><div>{new}</div><div><br><blockquote type="cite">'
        f"{attribution}<br><br><div>{old}</div></blockquote></div></body></html>"
    )
    hdrs = std(
        "Re: Login",
        mid,
        reply_to_id=orig,
        frm=CLIENT,
        extra=[
            ("Content-Type", 'text/html; charset="utf-8"'),
            ("Content-Transfer-Encoding", "quoted-printable"),
        ],
    )
    import quopri

    return message(hdrs, quopri.encodestring(html.encode()))


def _thunderbird(lang: str, mid: str, orig: str) -> bytes:
    attribution, _, new, old = LANG[lang]
    plain = f"{new}\n{SIGNATURE}\n{attribution}\n{_quoted(old)}\n"
    html = (
        f'<html><body><p>{new}</p><div class="moz-cite-prefix">{attribution}<br></div>'
        f'<blockquote type="cite" cite="mid:{orig}">{old}</blockquote></body></html>'
    )
    ctype, body = multipart(
        "alternative",
        [text_part(plain, cte="8bit"), text_part(html, subtype="html")],
        "tb-" + mid[:12],
    )
    return mime_message(std("Re: Login", mid, reply_to_id=orig), ctype, body)


CLIENTS = {
    "gmail": _gmail,
    "outlook": _outlook,
    "outlooktext": _outlook_text,
    "apple": _apple,
    "thunderbird": _thunderbird,
}


def replies() -> list[Case]:
    cases = []
    for client, build in CLIENTS.items():
        for n, lang in enumerate(LANG, 1):
            name = f"thread-{client}-{lang}-{n:02d}"
            _, _, new, old = LANG[lang]
            first = message(std("Login", f"{name}a@client.example"), old + SIGNATURE)
            cases.append(
                Case(f"{name}a", first, "normal", "new", has=[old], note="the original request")
            )
            raw = build(lang, f"{name}b@client.example", f"{name}a@client.example")
            cases.append(
                Case(
                    f"{name}b",
                    raw,
                    "normal",
                    f"attach:{name}a",
                    has=[new],
                    lacks=[old],
                    note=f"{client} reply in {lang} quoting the original",
                )
            )
    return cases


def subject_tags() -> list[Case]:
    cases = []
    name = "thread-tag-01"
    cases.append(
        Case(
            f"{name}a",
            message(std("Printer", f"{name}a@client.example"), "The printer on floor 2 is jammed."),
            "normal",
            "new",
            has=["printer on floor 2"],
        )
    )
    cases.append(
        Case(
            f"{name}b",
            message(std("Re: [#1] Printer", f"{name}b@client.example"), "It is jammed again."),
            "normal",
            f"attach:{name}a",
            has=["jammed again"],
            note="subject tag from a participant, no headers",
        )
    )
    cases.append(
        Case(
            f"{name}c",
            message(
                std(
                    "Re: [#1] Printer",
                    f"{name}c@other.example",
                    frm="Mallory <mallory@other.example>",
                ),
                "Let me in.",
            ),
            "normal",
            "new",
            has=["Let me in"],
            note="subject tag from a stranger opens a new ticket",
        )
    )
    name = "thread-references-01"
    cases.append(
        Case(
            f"{name}a",
            message(std("VPN", f"{name}a@client.example"), "The VPN drops every hour."),
            "normal",
            "new",
            has=["VPN drops"],
        )
    )
    hdrs = std(
        "Re: VPN",
        f"{name}b@client.example",
        extra=[("References", f"<unknown@elsewhere.example> <{name}a@client.example>")],
    )
    cases.append(
        Case(
            f"{name}b",
            message(hdrs, "Still dropping."),
            "normal",
            f"attach:{name}a",
            has=["Still dropping"],
            note="only References, newest last",
        )
    )
    return cases


def forwards() -> list[Case]:
    cases = []
    inner = (
        b"From: Bob Vendor <bob@vendor.example>\r\nTo: ana@client.example\r\n"
        b"Subject: Your quote\r\nDate: Sun, 01 Nov 2026 09:00:00 +0000\r\n"
        b"Message-ID: <quote-1@vendor.example>\r\n\r\nThe quote is EUR 400.\r\n"
    )
    for n in range(1, 4):
        name = f"forward-rfc822-{n:02d}"
        note = text_part(f"Forwarding the vendor's quote, see attachment ({n}).")
        parts = [
            note,
            ([("Content-Type", "message/rfc822"), ("Content-Disposition", "attachment")], inner),
        ]
        if n == 3:  # a forward of a forward
            outer = mime_message(
                std("Fwd: Your quote", "fwdfwd@client.example"),
                *multipart("mixed", parts[:], "fwd-inner"),
            )
            parts = [text_part("Forwarding twice."), ([("Content-Type", "message/rfc822")], outer)]
        ctype, body = multipart("mixed", parts, f"fwd-{n}")
        raw = mime_message(std("Fwd: Your quote", f"{name}@client.example"), ctype, body)
        cases.append(
            Case(
                name,
                raw,
                "normal",
                "new",
                has=["Forwarding"],
                extra={"attachments": ["Your quote.eml"] if n < 3 else ["Fwd: Your quote.eml"]},
                note="forward as message/rfc822 attachment",
            )
        )
    inline = [
        (
            "en",
            "---------- Forwarded message ---------\nFrom: Bob Vendor <bob@vendor.example>\n"
            "Date: Sun, 1 Nov 2026\nSubject: Your quote\nTo: ana@client.example\n\n"
            "The quote is EUR 400.",
        ),
        (
            "de",
            "---------- Weitergeleitete Nachricht ---------\nVon: Bob Vendor "
            "<bob@vendor.example>\nDatum: So., 1. Nov. 2026\nBetreff: Your quote\n"
            "An: ana@client.example\n\nThe quote is EUR 400.",
        ),
        (
            "fr",
            "-------- Message transféré --------\nSujet : Your quote\nDate : 1 nov. 2026\n"
            "De : Bob Vendor <bob@vendor.example>\n\nThe quote is EUR 400.",
        ),
        (
            "apple",
            "Begin forwarded message:\n\nFrom: Bob Vendor <bob@vendor.example>\n"
            "Subject: Your quote\nDate: 1 November 2026\n\nThe quote is EUR 400.",
        ),
    ]
    for n, (kind, chain) in enumerate(inline, 1):
        name = f"forward-inline-{kind}-{n:02d}"
        raw = message(
            std("Fwd: Your quote", f"{name}@client.example"),
            f"Can you match this price?\n\n{chain}\n",
        )
        cases.append(
            Case(
                name,
                raw,
                "normal",
                "new",
                has=["match this price"],
                note="inline forward: the forwarded text is part of the request",
            )
        )
    return cases


def all_cases() -> list[Case]:
    return [*replies(), *subject_tags(), *forwards()]
