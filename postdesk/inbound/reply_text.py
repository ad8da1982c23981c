"""What the sender wrote: quoted history and signature cut from a reply's text.

Placeholder: cuts only ``>``-quoted lines. Replaced by the HTML-aware stripper (issue 3).
"""

from __future__ import annotations


def extract_new_text(text: str, html: str | None = None) -> str:
    """The new part of a reply's body; the whole text when nothing looks quoted."""
    kept = [line for line in text.splitlines() if not line.lstrip().startswith(">")]
    return "\n".join(kept).strip() or text.strip()
