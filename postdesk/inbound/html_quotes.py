"""Cut quoted history out of an HTML reply at the markers mail clients leave, then make text.

Clients wrap the quote in a recognisable element (Gmail ``gmail_quote``, Outlook
``divRplyFwdMsg``/``appendonsend``, Apple/Thunderbird ``blockquote type="cite"``, ...). The
first such element in document order starts the history: it and everything after it goes.
"""

from __future__ import annotations

import re
import textwrap

import lxml.html
from inscriptis import get_text
from lxml.etree import ParserError, _Element

# class / id markers that open quoted history
_CLASS_MARKERS = (
    "gmail_quote",
    "gmail_extra",
    "yahoo_quoted",
    "moz-cite-prefix",
    "protonmail_quote",
    "zmail_extra",
    "oe_quote",
)
_ID_MARKERS = (
    "divrplyfwdmsg",
    "appendonsend",
    "olk_src_body_section",
    "mail-editor-reference-message-container",
    "isforwardcontent",
    "isreplycontent",
    "stopspelling",
)
_OUTLOOK_BORDER = re.compile(r"border-top:\s*solid\s+#(?:b5c4df|e1e1e1)", re.I)


def _is_marker(element: _Element) -> bool:
    classes = (element.get("class") or "").lower().split()
    if any(marker in classes for marker in _CLASS_MARKERS):
        return True
    if (element.get("id") or "").lower() in _ID_MARKERS:
        return True
    if element.tag == "blockquote" and (element.get("type") or "").lower() == "cite":
        return True
    # Outlook 2007-2016 put the "From: ... Sent: ..." block in a div with a thin top border.
    return element.tag == "div" and bool(_OUTLOOK_BORDER.search(element.get("style") or ""))


def _remove_from(element: _Element) -> None:
    """Drop element and everything that follows it in document order."""
    node: _Element | None = element
    while node is not None and node.getparent() is not None:
        parent = node.getparent()
        for sibling in list(node.itersiblings()):
            parent.remove(sibling)
        node.tail = None
        node = parent
    parent = element.getparent()
    if parent is not None:
        parent.remove(element)


def _trailing_blockquote(root: _Element) -> _Element | None:
    """A bare <blockquote> (class/type stripped by a sanitiser) with nothing but space after it."""
    quotes = [q for q in root.iter("blockquote") if q.getparent() is not None]
    if not quotes:
        return None
    last = quotes[-1]
    while last.getparent() is not None and last.getparent().tag == "blockquote":
        last = last.getparent()
    after = "".join(_text_after(last))
    return last if not after.strip() else None


def _text_after(element: _Element) -> list[str]:
    out: list[str] = []
    node: _Element | None = element
    while node is not None:
        out.append(node.tail or "")
        for sibling in node.itersiblings():
            out.append(sibling.text_content() if isinstance(sibling.tag, str) else "")
            out.append(sibling.tail or "")
        node = node.getparent()
    return out


def strip_html_quotes(html: str) -> tuple[str, bool]:
    """The HTML reply as text with quoted history cut, and whether a marker was found."""
    try:
        root = lxml.html.document_fromstring(html)
    except (ParserError, ValueError):
        return get_text(html), False
    marker = next((e for e in root.iter() if isinstance(e.tag, str) and _is_marker(e)), None)
    if marker is None:
        marker = _trailing_blockquote(root)
    if marker is not None:
        _remove_from(marker)
    # inscriptis indents table cells and nested divs; the sender did not type that indent
    text = textwrap.dedent(get_text(lxml.html.tostring(root, encoding="unicode")))
    return text, marker is not None
