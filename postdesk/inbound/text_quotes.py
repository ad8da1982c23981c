"""Where quoted history and signatures start in a plain-text reply.

Pure functions over a list of lines. The cut rules are ours (they keep the sender's own
formatting); mail-parser-reply's header expressions are consulted as one more detector so
that its languages (cs, da, it, ja, ko, pl, sv, zh, ...) count too.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterator
from functools import lru_cache

from mailparser_reply import EmailReplyParser
from mailparser_reply.constants import MAIL_LANGUAGES

# "On <date>, <name> wrote:" in many languages: the verb that ends the header line.
_WROTE = (
    r"wrote|writes|schrieb|schreef|a écrit|a ecrit|escribió|escribio|escreveu|ha scritto|"
    r"scrisse|skrev|kirjoitti|napisał|napisała|napisal|napsal|napsala|написал|написала|"
    r"написав|написала|пише|yazdı|írta|έγραψε|kirjutas|rašė|rakstīja|napisao|napisala|"
    r"geschreven|ha escrit|pisze|のメッセージ|写道|寫道|書きました|작성"
)
_WROTE_LINE = re.compile(rf"(?:(?:{_WROTE})(?:\(a\))?\s*[:：]?|[\w.-]+@[\w.-]+>?\s*:)\s*$", re.I)
# Zoho: "---- On Wed, 24 Feb 2021 14:02:50 +0530 a@b.c wrote ----"
# Possessive leading dashes: a plain -{2,} before .* backtracked quadratically on long rules.
_DASHED_HEADER = re.compile(rf"^\s*-{{2,}}+.*(?:{_WROTE})\s*-{{2,}}\s*$", re.I)
# Words that open such a header when it is wrapped over two or three lines.
_HEADER_LEAD = re.compile(
    r"^(?:on|at|am|le|el|op|il|em|den|på|d\.|dnia|w dniu|dne|в|у|el día|den|la|"
    r"\d{1,4}[./\-年]|\w+, \d)\b",
    re.I,
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_DIGIT = re.compile(r"\d")
# "2014-03-20 8:48 GMT+01:00 Name <a@b.c>:" (Gmail in some locales): date, address, colon.
_DATE_ADDRESS_HEADER = re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}.*<[^>]+@[^>]+>\s*:\s*$")

_SEPARATOR = re.compile(
    r"^\s*[-=_*]{2,}\s*(?:original message|ursprüngliche nachricht|originalnachricht|"
    r"message d'origine|message original|mensaje original|mensagem original|"
    r"oorspronkelijk bericht|origineel bericht|messaggio originale|originalmeddelande|"
    r"ursprungligt meddelande|oprindelig meddelelse|opprinnelig melding|alkuperäinen viesti|"
    r"wiadomość oryginalna|původní zpráva|исходное сообщение|оригінальне повідомлення|"
    r"forwarded message|weitergeleitete nachricht|message transféré|mensaje reenviado|"
    r"doorgestuurd bericht|messaggio inoltrato|videresendt melding|vidarebefordrat meddelande|"
    r"mensagem encaminhada|reply message|original)\s*[-=_*]*\s*$",
    re.I,
)
_FORWARD_LINE = re.compile(
    r"^\s*(?:begin forwarded message|anfang der weitergeleiteten nachricht|"
    r"début du message réexpédié|inicio del mensaje reenviado|"
    r"begin doorgestuurd bericht)\s*:\s*$",
    re.I,
)
MAX_HEADER_LINE = 500  # characters; longer lines are never taken for a quote header
_RULE = re.compile(r"^\s*(?:_{8,}|-{8,}|={8,})\s*$")

_FROM_LABEL = (
    r"from|von|de|van|da|från|fra|od|от|від|lähettäjä|feladó|kimden|差出人|发件人|寄件者|"
    r"보낸 사람|afzender|remitente|expéditeur|mittente"
)
_OTHER_LABEL = (
    r"sent|date|to|subject|cc|gesendet|datum|an|betreff|envoyé|envoyé le|date|à|objet|"
    r"enviado|enviado el|fecha|para|asunto|verzonden|aan|onderwerp|inviato|data|a|oggetto|"
    r"skickat|till|ämne|sendt|til|emne|wysłano|do|temat|отправлено|дата|кому|тема|"
    r"надіслано|lähetetty|vastaanottaja|aihe|件名|送信日時|宛先|发送时间|收件人|主题|日期"
)
_HEADER_FIELD = r"^[\s>*]*(?:{labels})\s*[*]?\s*[:：]"
_FROM_FIELD = re.compile(_HEADER_FIELD.format(labels=_FROM_LABEL), re.I)
_ANY_FIELD = re.compile(_HEADER_FIELD.format(labels=f"{_FROM_LABEL}|{_OTHER_LABEL}"), re.I)

_SIG_DELIMITER = re.compile(r"^(?:-- ?|_{2,})\s*$")
_SENT_FROM = re.compile(
    r"^[\s(<]*(?:sent (?:from|with|via|using|by)|get outlook for|envoyé (?:de|depuis|avec)|"
    r"von meinem .* gesendet|gesendet von|diese nachricht wurde von|enviado (?:desde|de|con)|"
    r"verzonden (?:vanaf|met|via)|verstuurd vanaf|inviato da|skickat från|sendt fra|"
    r"wysłane z|отправлено с|надіслано з|lähetetty|從我的|发自我的|iphoneから送信|"
    r"enviado do meu|from my)",
    re.I,
)


_NEWLINE = re.compile(r"\n")
_DANISH_SEPARATOR = re.compile(r"-----Oprindelig meddelelse-----", re.I)


@lru_cache(maxsize=1)
def _library_header_regex() -> re.Pattern[str]:
    """mail-parser-reply's own header detector across all its languages."""
    parser = EmailReplyParser(languages=list(MAIL_LANGUAGES))
    message = parser.read("")
    return message.HEADER_REGEX


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _blank(line: str) -> bool:
    return not line.strip()


# Gmail in German/French puts the date after the verb: "Max <m@x.de> schrieb am Fr., 28. Apr.
# 2017 um 11:53 Uhr:", often wrapped, so the line does not end with the verb.
_VERB_THEN_DATE = re.compile(r"@[^>]+>\s*(?:schrieb am|a écrit le|escribió el|wrote on)\s", re.I)


def _wrote_header_start(lines: list[str], i: int) -> int | None:
    """Index where an "On ... wrote:" header ending on line i starts, if it is one."""
    line = lines[i].lstrip("> ").strip()
    if _VERB_THEN_DATE.search(line) and _DIGIT.search(" ".join(lines[i : i + 2])):
        return i
    # Length first: on a long run of word characters the address branch of _WROTE_LINE is
    # quadratic (a 64 KB line took 15 s).
    if len(line) > 300 or not _WROTE_LINE.search(line):
        return None
    start = None
    for back in range(0, 3):  # the header may be wrapped over up to three lines
        j = i - back
        if j < 0 or (back and _blank(lines[j])):
            break
        head = lines[j].lstrip("> ").strip()
        joined = " ".join(x.lstrip("> ").strip() for x in lines[j : i + 1])
        if (_HEADER_LEAD.match(head) or _DIGIT.match(head) or _EMAIL.search(head)) and (
            _DIGIT.search(joined) or _EMAIL.search(joined)
        ):
            start = j
    return start if start is not None else (i if _EMAIL.search(line) else None)


def _from_block_start(lines: list[str], i: int) -> int | None:
    """Index where an Outlook-style "From: ... Sent: ..." block starting at line i begins."""
    if not _FROM_FIELD.match(lines[i]):
        return None
    window = [x for x in lines[i + 1 : i + 7] if not _blank(x)][:4]
    fields = sum(1 for x in window if _ANY_FIELD.match(x))
    if fields == 0 and not _EMAIL.search(lines[i]):
        return None
    if fields == 0 and i > 0 and not _blank(lines[i - 1]):
        return None  # a lone "From: a@b.c" inside a paragraph is prose
    start = i
    j = i - 1
    while j >= 0 and _blank(lines[j]):
        j -= 1
    if j >= 0 and (_RULE.match(lines[j]) or _SEPARATOR.match(lines[j])):
        start = j
    return start


def _library_header_lines(text: str, lines: list[str]) -> set[int]:
    """Line numbers where mail-parser-reply sees a header.

    All but one branch of its regex begin with ``^`` or a newline; the Danish one may also
    begin at its separator, wherever that stands in a line. So a match can only start at a
    line start, a newline or that separator: trying just those positions, and resuming
    after each match as ``finditer`` does, finds what ``finditer`` finds without trying ~30
    branches at every character (it was the hottest function of the ingest path).
    ``tests/inbound/test_quote_header_scan.py`` checks the branches of the installed
    library's regex, so an update that adds another kind of start fails there."""
    regex = _library_header_regex()
    found: set[int] = set()
    resume = 0
    for position in _match_starts(text):
        if position < resume:
            continue
        match = regex.match(text, position)
        if match is None or match.end() == position:
            continue
        resume = match.end()
        if match.group(0).strip():
            start = match.start() + len(match.group(0)) - len(match.group(0).lstrip())
            found.add(text.count("\n", 0, start))
    return {n for n in found if n < len(lines)}


def _match_starts(text: str) -> Iterator[int]:
    """In order: 0, each newline and the position after it, each Danish separator."""
    edges = (p for m in _NEWLINE.finditer(text) for p in (m.start(), m.end()))
    separators = (m.start() for m in _DANISH_SEPARATOR.finditer(text))
    yield 0
    yield from heapq.merge(edges, separators)


def _quote_runs_to_end(lines: list[str], start: int) -> bool:
    """True when, from start on, only quoted lines, blanks and a signature remain."""
    for k in range(start, len(lines)):
        if _blank(lines[k]) or _is_quoted(lines[k]):
            continue
        return is_footer(lines[k:])
    return True


def is_footer(lines: list[str]) -> bool:
    """Whether lines (first one non-blank) are a signature or mailing-list footer."""
    first = lines[0].strip()
    return bool(_SIG_DELIMITER.match(first) or _RULE.match(first)) or _trailer_block(lines)


def history_start(lines: list[str]) -> int | None:
    """First line of quoted history, or None when nothing looks quoted."""
    # Long lines are blanked for the library's regex too: it is quadratic on them.
    short = "\n".join(x if len(x) <= MAX_HEADER_LINE else "" for x in lines)
    library = _library_header_lines(short, lines)
    for i, line in enumerate(lines):
        if _blank(line):
            continue
        if len(line) > MAX_HEADER_LINE:
            # No quote header is this long, and some header regexes backtrack quadratically
            # on long runs (65,000 dashes took minutes in _DASHED_HEADER).
            if _is_quoted(line) and _quote_runs_to_end(lines, i):
                return i
            continue
        if _SEPARATOR.match(line) or _FORWARD_LINE.match(line) or _DASHED_HEADER.match(line):
            return i
        start = _from_block_start(lines, i)
        if start is None:
            start = _wrote_header_start(lines, i)
        if start is None and _DATE_ADDRESS_HEADER.match(line.strip()):
            start = i
        if start is None and i in library and not _is_quoted(line):
            start = i
        if start is not None:
            # A header followed by a quote and then more of the sender's text is an
            # inline (bottom-posted) reply: keep it and look further down.
            after = i + 1
            while after < len(lines) and (_blank(lines[after]) or _is_quoted(lines[after])):
                after += 1
            quoted_below = any(_is_quoted(x) for x in lines[i + 1 : after])
            if quoted_below and after < len(lines) and not _quote_runs_to_end(lines, after):
                continue
            return start
        if _is_quoted(line) and _quote_runs_to_end(lines, i):
            return i
    return None


def signature_start(lines: list[str]) -> int | None:
    """First line of a trailing signature: a "-- " delimiter or a "Sent from my ..." trailer."""
    for i, line in enumerate(lines):
        if _SIG_DELIMITER.match(line) and i > 0:
            return i
    for i, line in enumerate(lines):
        text = line.strip()
        if _SENT_FROM.match(text) and (_trailer_block(lines[i:]) or _lone_trailer(text)):
            return i
    return None


def _lone_trailer(text: str) -> bool:
    """ "Sent from my Wiko RIDGE FAB 4G" on its own line: a device footer, whatever follows."""
    return bool(re.match(r"^sent from my\s+[\w -]{1,40}$", text, re.I)) and len(text.split()) <= 8


def _trailer_block(lines: list[str]) -> bool:
    """Whether lines are only device trailers, at least one of them unmistakable."""
    strict = False
    for line in lines:
        text = line.strip()
        if not text:
            continue
        words = len(text.split())
        is_trailer = _SENT_FROM.match(text) is not None
        if is_trailer and (words <= 6 or "http" in text or "<" in text):
            strict = True
        elif (not is_trailer and words > 6) or (
            is_trailer and "," in text and words > 6 and not strict
        ):
            return False
    return strict
