"""Customer HTML as the admin shows it: already nh3-sanitised at ingest, then framed.

The frame is a separate document with its own policy: no script at all, no remote loads
(images from the web only after the agent asks for them), sandboxed with a unique origin so
even a sanitiser bug cannot reach the admin's cookies or pages.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

_REMOTE_IMG = re.compile(r"(<img\b[^>]*?\s)src=([\"']?)(?=(?:https?:)?//)", re.IGNORECASE)


def block_remote_images(html: str) -> tuple[str, int]:
    """Remote ``<img src>`` become ``data-src`` placeholders; returns the HTML and how many."""
    return _REMOTE_IMG.subn(
        lambda m: f'{m.group(1)}data-blocked="remote image" data-src={m.group(2)}', html
    )


def frame_policy(remote_images: bool) -> str:
    img = "data: http: https:" if remote_images else "data:"
    return (
        f"default-src 'none'; img-src {img}; style-src 'unsafe-inline'; "
        "frame-ancestors 'self'; sandbox allow-popups allow-popups-to-escape-sandbox"
    )


def frame_document(sanitized: str, *, remote_images: bool) -> tuple[str, int]:
    body, blocked = (sanitized, 0) if remote_images else block_remote_images(sanitized)
    doc = (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        '<meta name="referrer" content="no-referrer"><base target="_blank"></head>'
        f"<body>{body}</body></html>"
    )
    return doc, blocked


def safe_filename(name: str, fallback: str = "attachment") -> str:
    """A name that is only a name: no directories, control characters, quotes or leading dots."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C" and c not in '"<>:|?*;')
    name = name.strip().lstrip(".").strip()
    return name[:150] or fallback


def content_disposition(name: str) -> str:
    ascii_name = safe_filename(name).encode("ascii", "replace").decode().replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(safe_filename(name))}"
