"""BM25 over bags of words: which stored documents are most like a query.

Pure and generic (the keys are whatever the caller names documents by), with an inverted
index so a query touches only the documents that share a term with it: 2,000 past tickets
answer in about a millisecond. ``relevance`` is the score divided by the best score the
query could reach, as in ``postdesk.rules.kb_search``, so thresholds are fractions in [0, 1].
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

K1 = 1.2
B = 0.75

Key = TypeVar("Key", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Hit(Generic[Key]):
    key: Key
    score: float
    relevance: float  # score / the query's reachable maximum, in [0, 1]
    matched: int  # distinct query terms the document contains


class Bm25(Generic[Key]):
    """An immutable index of ``(key, term counts)`` documents."""

    def __init__(self, docs: Sequence[tuple[Key, Mapping[str, int]]]) -> None:
        self.keys = [key for key, _ in docs]
        lengths = [float(sum(counts.values())) for _, counts in docs]
        n = len(docs)
        total = float(sum(lengths))
        avg = total / n if n and total else 1.0
        self._norm = [K1 * (1 - B + B * length / avg) for length in lengths]
        postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for index, (_, counts) in enumerate(docs):
            for term, tf in counts.items():
                if tf > 0:
                    postings[term].append((index, tf))
        self._postings = dict(postings)
        self.idf = {
            t: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for t, p in postings.items()
        }
        self._unseen_idf = math.log(1 + (n + 0.5) / 0.5) if n else 0.0

    def __len__(self) -> int:
        return len(self.keys)

    def search(self, query: Mapping[str, int], *, limit: int = 10) -> list[Hit[Key]]:
        # The ceiling counts every query term, known or not: a query made mostly of words no
        # document uses is a poor match even when one word hits.
        ceiling = sum(self.idf.get(t, self._unseen_idf) * w * (K1 + 1) for t, w in query.items())
        if ceiling <= 0:
            return []
        scores: dict[int, float] = defaultdict(float)
        matched: dict[int, int] = defaultdict(int)
        for term, weight in query.items():
            idf = self.idf.get(term)
            if idf is None:
                continue
            for index, tf in self._postings[term]:
                scores[index] += idf * weight * tf * (K1 + 1) / (tf + self._norm[index])
                matched[index] += 1
        best = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]
        return [
            Hit(self.keys[i], score, min(score / ceiling, 1.0), matched[i])
            for i, score in best
            if score > 0
        ]
