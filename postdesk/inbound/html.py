"""Customer HTML made safe to show (nh3) and readable as text (inscriptis)."""

from __future__ import annotations

import nh3
from inscriptis import get_text

_URL_SCHEMES = {"http", "https", "mailto", "tel", "cid"}
# Presentational attributes that mail clients rely on for layout; style is left out on purpose
# (CSS can load remote resources and hide text).
_EXTRA_ATTRIBUTES = {
    "*": {"align", "valign", "dir", "lang", "title"},
    "table": {"border", "cellpadding", "cellspacing", "width", "bgcolor"},
    "td": {"colspan", "rowspan", "width", "bgcolor"},
    "th": {"colspan", "rowspan", "width", "bgcolor"},
    "font": {"color", "face", "size"},
    "img": {"src", "alt", "width", "height"},
}


def _keep_attribute(element: str, attribute: str, value: str) -> str | None:
    # A remote image is a tracking pixel until proven otherwise: only cid: parts of the mail.
    if element == "img" and attribute == "src" and not value.strip().lower().startswith("cid:"):
        return None
    return value


def _attributes() -> dict[str, set[str]]:
    merged = {tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()}
    for tag, attrs in _EXTRA_ATTRIBUTES.items():
        merged.setdefault(tag, set()).update(attrs)
    return merged


_ATTRIBUTES = _attributes()
_TAGS = set(nh3.ALLOWED_TAGS) | {"font", "center"}


def sanitize(html: str) -> str:
    """HTML with scripts, styles, event handlers and remote images removed."""
    return nh3.clean(
        html,
        tags=_TAGS,
        clean_content_tags={"script", "style", "title", "head"},
        attributes=_ATTRIBUTES,
        attribute_filter=_keep_attribute,
        url_schemes=_URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def html_to_text(html: str) -> str:
    """Readable plain text for an HTML-only mail."""
    if not html.strip():
        return ""
    try:
        text = get_text(html)
    except Exception:  # inscriptis/lxml reject some broken documents; sanitised HTML is safe
        text = get_text(sanitize(html))
    lines = [line.rstrip() for line in text.splitlines()]
    return "\n".join(lines).strip()
