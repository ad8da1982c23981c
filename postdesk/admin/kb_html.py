"""A KB article's body as safe HTML: Markdown (a small, common subset) or HTML, always
through nh3 — staff write articles, but the public portal shows them to anyone.

No Markdown library is a dependency; this covers what help articles use: headings,
paragraphs, lists, quotes, fenced code, `code`, **bold**, *italic* and [links](url).
"""

from __future__ import annotations

import html
import re

import nh3

_SCHEMES = {"http", "https", "mailto"}
_TAGS = {
    "a", "p", "br", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote",
    "pre", "code", "strong", "em", "b", "i", "hr", "table", "thead", "tbody", "tr", "th", "td",
    "img", "span", "div", "dl", "dt", "dd", "sub", "sup",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "*": {"lang", "dir"}}
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
_NUMBER = re.compile(r"^\s*\d+[.)]\s+(.*)$")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def sanitize(fragment: str) -> str:
    return nh3.clean(
        fragment,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_SCHEMES,
        link_rel="noopener noreferrer",
        clean_content_tags={"script", "style"},
        strip_comments=True,
    )


def is_html(body: str) -> bool:
    return body.lstrip().startswith("<")


def article_html(body: str) -> str:
    """The body shown to readers: sanitised HTML, or Markdown made HTML and sanitised."""
    return sanitize(body if is_html(body) else markdown(body))


def markdown(text: str) -> str:
    out: list[str] = []
    para: list[str] = []
    items: list[str] = []
    kind = ""  # "ul" | "ol" while a list is open

    def flush() -> None:
        nonlocal kind
        if para:
            out.append(f"<p>{inline(' '.join(para))}</p>")
            para.clear()
        if items:
            out.append(f"<{kind}>" + "".join(f"<li>{inline(i)}</li>" for i in items) + f"</{kind}>")
            items.clear()
            kind = ""

    lines = text.replace("\r\n", "\n").split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith("```"):
            flush()
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
            stop = end if end is not None else len(lines)
            code = "\n".join(lines[i + 1 : stop])
            out.append(f"<pre><code>{html.escape(code)}</code></pre>")
            i = stop + 1
            continue
        heading = _HEADING.match(line)
        bullet, number = _BULLET.match(line), _NUMBER.match(line)
        if not line.strip():
            flush()
        elif heading:
            flush()
            level = len(heading.group(1))
            out.append(f"<h{level}>{inline(heading.group(2))}</h{level}>")
        elif line.strip() in ("---", "***"):
            flush()
            out.append("<hr>")
        elif bullet or number:
            want = "ul" if bullet else "ol"
            if para or (kind and kind != want):
                flush()
            kind = want
            items.append((bullet or number).group(1))  # type: ignore[union-attr]
        elif line.startswith(">"):
            flush()
            out.append(f"<blockquote>{inline(line.lstrip('> '))}</blockquote>")
        elif items and line.startswith((" ", "\t")):
            items[-1] += " " + line.strip()
        else:
            if items:
                flush()
            para.append(line.strip())
        i += 1
    flush()
    return "\n".join(out)


def inline(text: str) -> str:
    parts = re.split(r"(`[^`]+`)", text)
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
            continue
        s = html.escape(part, quote=True)
        s = _LINK.sub(lambda m: f'<a href="{m.group(2)}">{m.group(1)}</a>', s)
        s = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
        s = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", s)
        s = re.sub(r"(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)", r"<em>\1</em>", s)
        out.append(s)
    return "".join(out)
