"""A generated, repeatable corpus of support mail: new requests, replies, HTML, attachments."""

from __future__ import annotations

import random
from email.message import EmailMessage
from email.policy import SMTP

WORDS = [
    "printer",
    "invoice",
    "login",
    "password",
    "error",
    "order",
    "refund",
    "delivery",
    "account",
    "screen",
    "broken",
    "please",
    "urgent",
    "help",
    "thanks",
    "update",
    "monday",
    "report",
    "export",
]


def _text(rng: random.Random, words: int) -> str:
    lines = []
    for _ in range(max(1, words // 12)):
        lines.append(" ".join(rng.choice(WORDS) for _ in range(12)).capitalize() + ".")
    return "\n".join(lines)


def generate(count: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        msg = EmailMessage(policy=SMTP)
        sender = f"client{i % 97}@customer{i % 13}.example"
        msg["From"] = f"Client {i % 97} <{sender}>"
        msg["To"] = "support@bench.example"
        msg["Subject"] = f"{rng.choice(WORDS).capitalize()} problem no. {i}"
        msg["Message-ID"] = f"<bench.{seed}.{i}@customer.example>"
        msg["Date"] = "Mon, 02 Nov 2026 10:00:00 +0000"
        body = _text(rng, rng.randint(30, 300))
        kind = i % 10
        if kind < 2:  # a reply quoting history
            body += "\n\nOn Monday, Support wrote:\n> " + _text(rng, 120).replace("\n", "\n> ")
        msg.set_content(body)
        if 2 <= kind < 5:
            msg.add_alternative(
                f"<html><body><p>{body}</p><img src='https://t.example/p.gif'></body></html>",
                subtype="html",
            )
        if kind == 5:
            msg.add_attachment(
                rng.randbytes(64 * 1024),
                maintype="application",
                subtype="pdf",
                filename=f"invoice-{i}.pdf",
            )
        out.append(msg.as_bytes())
    return out
