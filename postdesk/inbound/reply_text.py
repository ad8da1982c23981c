"""What the sender wrote: quoted history and signature cut from a reply.

``extract_new_text`` is the entry point. The text body is the primary source (measured more
accurate on the corpus, see benchmarks/reply_accuracy.py); the HTML body is used when there
is no usable text, or when its client markers find a quote that the text rules missed.
Whatever happens, the result is never empty when the body was not, and nothing raises.
"""

from __future__ import annotations

import logging
import re

from postdesk.inbound.html_quotes import strip_html_quotes
from postdesk.inbound.text_quotes import history_start, signature_start

log = logging.getLogger(__name__)

# mail-parser-reply (and any regex scan) is quadratic on long blank runs; bodies beyond this
# are someone's pasted log or a forwarded archive, and the new text is at the top anyway.
MAX_INPUT_CHARS = 50_000
_BLANK_RUN = re.compile(r"[ \t\u00a0\u200b]{9,}")
_BLANK_LINES = re.compile(r"\n(?:[ \t]*\n){3,}")
_INVISIBLE = re.compile(r"[\u200b\u200c\u200d\ufeff\u1427]")  # incl. Gmail's "ᐧ" tracker


def guard(text: str) -> str:
    """Normalise line ends, collapse long blank runs, and cap the size before any regex."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _BLANK_RUN.sub(" ", text[: MAX_INPUT_CHARS * 4])
    text = _BLANK_LINES.sub("\n\n\n", text)
    return text[:MAX_INPUT_CHARS]


def strip_text(text: str) -> str:
    """The sender's part of a plain-text body ('' when all of it looks quoted)."""
    lines = [_INVISIBLE.sub("", line).rstrip() for line in guard(text).split("\n")]
    start = history_start(lines)
    if start is not None:
        lines = lines[:start]
    cut = signature_start(lines)
    if cut is not None and "\n".join(lines[:cut]).strip():
        lines = lines[:cut]
    return _tidy("\n".join(lines))


def strip_html(html: str) -> tuple[str, bool]:
    """The sender's part of an HTML body as text, and whether a client marker was found."""
    text, marked = strip_html_quotes(html[: MAX_INPUT_CHARS * 4])
    return strip_text(text), marked


def _tidy(text: str) -> str:
    return _BLANK_LINES.sub("\n\n", text).strip("\n").rstrip()


def _choose(text: str, html: str | None) -> str:
    from_text = strip_text(text) if text.strip() else ""
    if html is None or not html.strip():
        return from_text
    from_html, marked = strip_html(html)
    if not from_text:
        return from_html
    # The HTML marker found a quote the text rules kept: trust the client's own marker.
    if marked and from_html and len(from_html) < len(from_text):
        return from_html
    return from_text


def extract_new_text(text: str, html: str | None = None) -> str:
    """The new part of a reply's body; the whole text when nothing (or everything) looks quoted."""
    try:
        new = _choose(text or "", html)
    except Exception:  # a stripper bug must never lose the message
        log.exception("reply text extraction failed; keeping the full body")
        new = ""
    if new.strip():
        return new
    whole = _tidy(guard(text or "")) if (text or "").strip() else ""
    if not whole and html:
        try:
            from inscriptis import get_text

            whole = _tidy(get_text(html[: MAX_INPUT_CHARS * 4]))
        except Exception:
            log.exception("HTML to text failed")
            whole = ""
    return whole
