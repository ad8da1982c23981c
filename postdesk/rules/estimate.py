"""Time-estimate suggestions for support tickets: pure decisions, no I/O.

A suggestion is the weighted median (in log minutes: work times are skewed) of the actual
times of the most similar resolved tickets, multiplied by the client's factor: the median of
their recent ratios of actual time to the text-only estimate, shrunk toward 1 while they have
few resolved tickets. Confidence says how much the neighbours agree and how many there are;
without a similar ticket the suggestion falls back to the median of all resolved tickets, with
Low confidence. ``postdesk.rules.estimate_index`` feeds this from the store and
``benchmarks/estimates.py`` measures it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

from postdesk.store.workflow import WorkflowError

HIGH, MEDIUM, LOW = "High", "Medium", "Low"
CONFIDENCES = (HIGH, MEDIUM, LOW)

NEIGHBOURS = 8  # similar tickets that vote
MIN_RELEVANCE = 0.12  # below this a "similar" ticket shares little more than a word
RELATIVE = 0.5  # voters need this share of the best neighbour's relevance
MIN_TERMS = 2
CLIENT_HISTORY = 20  # recent resolved tickets of the client that set its factor
CLIENT_PRIOR = 3.0  # pseudo-tickets at ratio 1: one slow ticket does not double estimates
FACTOR_BOUNDS = (0.25, 4.0)
MAX_MINUTES = 10_000  # about a week of work; more is a typo


@dataclass(frozen=True, slots=True)
class Neighbour:
    ticket_id: int
    subject: str
    minutes: int  # actual time spent
    relevance: float  # 0..1 from the similarity search
    matched: int = MIN_TERMS


@dataclass(frozen=True, slots=True)
class Suggestion:
    minutes: int
    confidence: str  # High | Medium | Low
    reason: str  # one sentence for agents
    client_factor: float  # applied; the text-only estimate is minutes / client_factor


def client_factor(ratios: Sequence[float], *, prior: float = CLIENT_PRIOR) -> float:
    """The client's usual actual/estimate ratio: the median log ratio of their newest
    ``CLIENT_HISTORY`` tickets, shrunk toward 1 (log 0) by ``prior`` pseudo-observations."""
    logs = [math.log(r) for r in ratios[:CLIENT_HISTORY] if r > 0]
    if not logs:
        return 1.0
    shrunk = median(logs) * len(logs) / (len(logs) + prior)
    low, high = FACTOR_BOUNDS
    return min(max(math.exp(shrunk), low), high)


def voters(neighbours: Sequence[Neighbour]) -> list[Neighbour]:
    """The neighbours similar enough to vote, best first."""
    good = [n for n in neighbours if n.relevance >= MIN_RELEVANCE and n.matched >= MIN_TERMS]
    good.sort(key=lambda n: -n.relevance)
    if not good:
        return []
    floor = good[0].relevance * RELATIVE
    return [n for n in good if n.relevance >= floor][:NEIGHBOURS]


def weighted_median(values: Sequence[float], weights: Sequence[float]) -> float:
    pairs = sorted(zip(values, weights, strict=True))
    half = sum(weights) / 2
    seen = 0.0
    for value, weight in pairs:
        seen += weight
        if seen >= half:
            return value
    return pairs[-1][0]


def spread(values: Sequence[float], weights: Sequence[float], centre: float) -> float:
    """Weighted mean absolute deviation of log minutes: 0.3 is about ±35 %."""
    total = sum(weights)
    return sum(w * abs(v - centre) for v, w in zip(values, weights, strict=True)) / total


def confidence_for(count: int, dispersion: float, best: float, client_known: bool) -> str:
    if count >= 4 and dispersion <= 0.3 and best >= 0.3 and client_known:
        return HIGH
    if count >= 2 and dispersion <= 0.55:
        return MEDIUM
    return LOW


def round_minutes(minutes: float) -> int:
    """Round the way people estimate: 5-minute steps up to an hour, then 15, then 30."""
    step = 5 if minutes <= 60 else 15 if minutes <= 240 else 30
    return int(min(max(step * round(minutes / step), 5), MAX_MINUTES))


def suggest(
    neighbours: Sequence[Neighbour],
    ratios: Sequence[float],
    *,
    fallback_minutes: float | None,
    fallback_count: int = 0,
) -> Suggestion | None:
    """The suggestion for a new ticket; None when there is no history at all.

    ``ratios``: the client's actual/text-estimate ratios, newest first. ``fallback_minutes``:
    the median actual time of all resolved tickets (``fallback_count`` of them).
    """
    factor = client_factor(ratios)
    chosen = voters(neighbours)
    client = _client_clause(factor, len(ratios))
    if not chosen:
        if fallback_minutes is None:
            return None
        minutes = round_minutes(fallback_minutes * factor)
        reason = (
            f"No similar resolved ticket; the median of {fallback_count} resolved support "
            f"tickets is {round_minutes(fallback_minutes)} min{client}."
        )
        return Suggestion(minutes, LOW, reason, factor)
    logs = [math.log(max(n.minutes, 1)) for n in chosen]
    weights = [n.relevance for n in chosen]
    centre = weighted_median(logs, weights)
    level = confidence_for(
        len(chosen), spread(logs, weights, centre), chosen[0].relevance, len(ratios) >= 2
    )
    closest = chosen[0]
    title = closest.subject if len(closest.subject) <= 60 else closest.subject[:57] + "..."
    many = "ticket" if len(chosen) == 1 else f"{len(chosen)} tickets"
    reason = (
        f"Similar resolved {many} (closest #{closest.ticket_id} \u201c{title}\u201d, "
        f"{closest.minutes} min) took {round_minutes(math.exp(centre))} min{client}."
    )
    return Suggestion(round_minutes(math.exp(centre) * factor), level, reason, factor)


def _client_clause(factor: float, count: int) -> str:
    if count == 0 or abs(factor - 1) < 0.1:
        return ""
    return f"; this client's tickets take {factor:.1f}\u00d7 that ({count} resolved)"


def parse_minutes(value: str | int) -> int:
    """Minutes of work as agents write them (``30``, ``30m``, ``30 min``); ``WorkflowError``
    for anything else or outside 1..``MAX_MINUTES``."""
    text = str(value).strip().lower().removesuffix("min").removesuffix("m").strip()
    try:
        minutes = int(text)
    except ValueError:
        raise WorkflowError(f"minutes are a whole number, not {str(value)[:20]!r}") from None
    if not 1 <= minutes <= MAX_MINUTES:
        raise WorkflowError(f"minutes are between 1 and {MAX_MINUTES}")
    return minutes
