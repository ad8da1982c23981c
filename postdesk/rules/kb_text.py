"""Words for KB search: the same tokens for articles and for a client's mail.

Pure functions. Tokens are lower-cased, stop words (English and the pleasantries of mail)
dropped, and stemmed with Snowball's English stemmer, so "refunds", "refunded" and
"refunding" meet. A query is built from the subject (counted twice: it is the client's own
summary) and the new text of the mail, capped so a long preamble or a pasted log cannot
drown the question.
"""

from __future__ import annotations

import re
from functools import lru_cache

import snowballstemmer

_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_QUOTED = re.compile(r"^\s*>.*$", re.MULTILINE)
_REPLY_PREFIX = re.compile(r"^\s*((re|fwd?|aw|wg|tr|sv)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_TICKET_TAG = re.compile(r"\[#\d+\]")

ENGLISH = frozenset(
    """a about above after again against all also am an and any are aren't as at be because
    been before being below between both but by can can't cannot could couldn't did didn't do
    does doesn't doing don't down during each either else even ever every few for from further
    get gets getting got had hadn't has hasn't have haven't having he her here hers herself him
    himself his how however i i'd i'll i'm i've if in into is isn't it it's its itself just
    let's like may me might more most much must mustn't my myself need needs no nor not now of
    off on once one only or other ought our ours ourselves out over own same shan't she should
    shouldn't so some such than that that's the their theirs them themselves then there
    there's these they they'd they'll they're they've this those through to too under until
    up upon us very via was wasn't we we'd we'll we're we've were weren't what what's when
    where which while who whom why will with won't would wouldn't yet you you'd you'll you're
    you've your yours yourself yourselves already still since though really actually quite
    something anything someone anyone thing things way want wanted wants trying tried try
    know let lets make made see seems seem going go goes use using used able""".split()  # noqa: SIM905
)
# Words every support mail carries; they say nothing about which article helps.
MAIL_NOISE = frozenset(
    """hi hello hey dear thanks thank regards best cheers kind kindly please pls plz team
    support help helpful question questions issue issues problem problems asap urgent urgently
    sent iphone android mobile mail email today yesterday tomorrow morning afternoon evening
    sir madam guys folks everyone ok okay yes wondering wonder advise advice appreciate
    appreciated greetings sincerely thx ty hope fine well good great""".split()  # noqa: SIM905
)
STOP_WORDS = ENGLISH | MAIL_NOISE

MAX_QUERY_TERMS = 48  # distinct terms taken from a mail, subject first
SUBJECT_WEIGHT = 2


_STEMMER = snowballstemmer.stemmer("english")


@lru_cache(maxsize=100_000)
def stem(word: str) -> str:
    # The pure-Python stemmer is the slow part of indexing; a KB has a few thousand words.
    return str(_STEMMER.stemWord(word))


def words(text: str) -> list[str]:
    """Lower-case words minus stop words, numbers and single letters (unstemmed)."""
    found = _WORD.findall(text.lower().replace("\u2019", "'"))
    out: list[str] = []
    for w in found:
        if "'" in w and w not in STOP_WORDS:
            w = w.split("'", 1)[0]
        if len(w) < 2 or w.isdigit() or w in STOP_WORDS:
            continue
        out.append(w)
    return out


def tokens(text: str) -> list[str]:
    """The stems of ``text``'s words: what the index holds and queries look for."""
    return [stem(w) for w in words(text)]


def clean_subject(subject: str) -> str:
    """The subject without Re:/Fwd: prefixes and our ticket tag."""
    return _REPLY_PREFIX.sub("", _TICKET_TAG.sub(" ", subject)).strip()


def build_query(subject: str, text: str, *, max_terms: int = MAX_QUERY_TERMS) -> dict[str, int]:
    """Query terms with weights from a mail's subject and new text.

    Quoted lines are dropped (``text`` is normally already the new text), the subject's terms
    count ``SUBJECT_WEIGHT`` times, and at most ``max_terms`` distinct terms are kept, in
    order of appearance, so the question at the top of a long mail decides.
    """
    weights: dict[str, int] = {}
    for term in tokens(clean_subject(subject)):
        weights[term] = min(weights.get(term, 0) + SUBJECT_WEIGHT, 2 * SUBJECT_WEIGHT)
    body = _QUOTED.sub("", text)
    for term in tokens(body):
        if term in weights:
            weights[term] = min(weights[term] + 1, 2 * SUBJECT_WEIGHT)
        elif len(weights) < max_terms:
            weights[term] = 1
    return weights
