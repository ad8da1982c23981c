"""Bytes and header text to str, never raising: charset fallback and RFC 2047 encoded words.

Senders declare charsets that do not exist (``X-UNKNOWN``, ``iso-gb2312``) or lie about them;
guessers pick cp1250 for German. So: the declared charset when it decodes strictly, then
UTF-8, then cp1252, and only then a lossy decode.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import quopri
import re

# Names seen in real mail that Python does not know, or knows as a smaller charset.
_CHARSET_ALIASES = {
    "iso-gb2312": "gb18030",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "x-sjis": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "windows-874": "cp874",
    "x-mac-roman": "mac_roman",
    "unicode-1-1-utf-7": "utf-7",
    "iso-8859-8-i": "iso-8859-8",
    "us-ascii": "utf-8",  # 8-bit bytes under a us-ascii label are nearly always UTF-8
    "ascii": "utf-8",
}

_ENCODED_WORD = re.compile(r"=\?([^?\s]+?)\?([bBqQ])\?([^?\s]*?)\?=")
_BETWEEN_WORDS = re.compile(r"(\?=)[ \t\r\n]+(=\?)")
_FOLD = re.compile(r"\r?\n[ \t]*")
_SPACES = re.compile(r"[ \t\r\n]+")
# C0 controls but tab and line ends, and DEL: invisible, and PostgreSQL refuses NUL in text.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def codec_for(charset: str | None) -> str | None:
    """A Python codec name for a declared charset, or None when it is unknown."""
    if not charset:
        return None
    name = charset.strip().strip("\"'").lower()
    # RFC 2231 language suffix (utf-8*en) and stray parameters
    name = name.split("*", 1)[0].split(";", 1)[0].strip()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):
        return None


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Text from bytes: declared charset → UTF-8 → cp1252 → latin-1 (which always decodes)."""
    tried: list[str] = []
    for name in (codec_for(charset), "utf-8", "cp1252"):
        if name is None or name in tried:
            continue
        tried.append(name)
        try:
            return data.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("latin-1")


def text_from_header(value: str) -> str:
    """A raw header value (str; 8-bit bytes kept as surrogates by the parser) as clean text."""
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        value = decode_bytes(value.encode("ascii", "surrogateescape"))
    return value


def unfold(value: str) -> str:
    return _FOLD.sub(" ", value)


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words (leniently: missing padding, unknown charsets)."""
    value = text_from_header(value)
    if "=?" not in value:
        return value
    # Whitespace between two adjacent encoded words is not part of the text (RFC 2047 §6.2).
    value = _BETWEEN_WORDS.sub(r"\1\2", value)
    pieces: list[tuple[bytes, str | None] | str] = []
    pos = 0
    for m in _ENCODED_WORD.finditer(value):
        if m.start() > pos:
            pieces.append(value[pos : m.start()])
        raw = _decode_word_bytes(m.group(2), m.group(3))
        if raw is None:
            pieces.append(m.group(0))
        else:
            pieces.append((raw, m.group(1)))
        pos = m.end()
    pieces.append(value[pos:])
    return _join_words(pieces)


def _join_words(pieces: list[tuple[bytes, str | None] | str]) -> str:
    # Adjacent words in one charset are joined as bytes first: a multi-byte character may be
    # split across two words.
    out: list[str] = []
    buf = b""
    buf_cs: str | None = None
    for piece in pieces:
        if isinstance(piece, tuple) and (not buf or piece[1] == buf_cs):
            buf += piece[0]
            buf_cs = piece[1]
            continue
        if buf:
            out.append(decode_bytes(buf, buf_cs))
            buf, buf_cs = b"", None
        if isinstance(piece, tuple):
            buf, buf_cs = piece
        else:
            out.append(piece)
    if buf:
        out.append(decode_bytes(buf, buf_cs))
    return "".join(out)


def _decode_word_bytes(encoding: str, text: str) -> bytes | None:
    try:
        if encoding in "bB":
            cleaned = text.rstrip("=")
            return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4))
        return quopri.decodestring(text.replace("_", " ").encode("ascii", "replace"), header=False)
    except (binascii.Error, ValueError):
        return None


def strip_controls(text: str) -> str:
    """Text without NUL and the other control characters (tab and line ends stay)."""
    return _CONTROLS.sub("", text)


def header_text(value: str) -> str:
    """A whole header value, unfolded and decoded, with newlines and tabs collapsed."""
    return strip_controls(_SPACES.sub(" ", decode_words(unfold(value)))).strip()
