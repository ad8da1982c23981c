"""The estimator's decisions, pure: neighbours vote, the client factor, confidence, rounding."""

from __future__ import annotations

import math

from postdesk.rules.estimate import (
    HIGH,
    LOW,
    MEDIUM,
    Neighbour,
    client_factor,
    round_minutes,
    suggest,
    voters,
)
from postdesk.rules.estimate_index import HistoryIndex, PastTicket, doc_terms
from postdesk.rules.similarity import Bm25


def _n(tid: int, minutes: int, relevance: float = 0.5) -> Neighbour:
    return Neighbour(tid, f"ticket {tid}", minutes, relevance, 3)


def test_no_history_no_suggestion() -> None:
    assert suggest([], [], fallback_minutes=None) is None


def test_without_a_similar_ticket_the_overall_median_with_low_confidence() -> None:
    s = suggest([_n(1, 30, relevance=0.05)], [], fallback_minutes=42, fallback_count=9)
    assert s is not None
    assert (s.minutes, s.confidence) == (40, LOW)
    assert s.reason.startswith("No similar resolved ticket; the median of 9")


def test_agreeing_neighbours_of_a_known_client_give_high_confidence() -> None:
    near = [_n(i, m, 0.6) for i, m in enumerate([40, 45, 42, 38, 44], start=1)]
    s = suggest(near, [1.0, 1.0, 1.0], fallback_minutes=90)
    assert s is not None
    assert s.confidence == HIGH
    assert s.minutes in (40, 45)
    assert "#1" in s.reason and s.reason.endswith(".") and s.reason.count(".") == 1


def test_disagreeing_neighbours_lower_the_confidence() -> None:
    wide = [_n(1, 5, 0.6), _n(2, 240, 0.6), _n(3, 30, 0.6), _n(4, 600, 0.6)]
    s = suggest(wide, [1.0, 1.0], fallback_minutes=60)
    assert s is not None and s.confidence == LOW
    two = suggest([_n(1, 30), _n(2, 40)], [], fallback_minutes=60)
    assert two is not None and two.confidence == MEDIUM


def test_weak_matches_do_not_vote() -> None:
    chosen = voters([_n(1, 30, 0.8), _n(2, 500, 0.3), _n(3, 35, 0.5), _n(4, 20, 0.1)])
    assert [n.ticket_id for n in chosen] == [1, 3]  # 0.3 < half the best; 0.1 below the floor


def test_client_factor_is_a_shrunk_median() -> None:
    assert client_factor([]) == 1.0
    one = client_factor([2.0])
    assert 1.0 < one < 1.3  # one slow ticket says little
    many = client_factor([2.0] * 12)
    assert 1.7 < many < 2.0
    assert client_factor([0.5] * 12) < 0.6
    assert client_factor([100.0] * 20) == 4.0  # bounded


def test_a_slow_client_gets_a_proportionally_higher_suggestion() -> None:
    near = [_n(i, 60, 0.6) for i in range(1, 5)]
    usual = suggest(near, [1.0] * 10, fallback_minutes=60)
    slow = suggest(near, [2.0] * 10, fallback_minutes=60)
    assert usual is not None and slow is not None
    assert usual.minutes == 60
    assert slow.minutes >= 105
    assert math.isclose(slow.client_factor, math.exp(math.log(2) * 10 / 13))
    assert "this client's tickets take 1.7\u00d7" in slow.reason


def test_round_minutes() -> None:
    assert [round_minutes(m) for m in (0.2, 7, 33, 61, 130, 500, 10**9)] == [
        5,
        5,
        35,
        60,
        135,
        510,
        10_000,
    ]


def test_bm25_ranks_the_document_sharing_rare_terms_first() -> None:
    index = Bm25(
        [
            ("printer", {"printer": 2, "jam": 1, "paper": 1}),
            ("vpn", {"vpn": 2, "tunnel": 1}),
            ("mixed", {"printer": 1, "vpn": 1}),
        ]
    )
    hits = index.search({"printer": 2, "jam": 1})
    assert [h.key for h in hits] == ["printer", "mixed"]
    assert 0 < hits[0].relevance <= 1 and hits[0].matched == 2
    assert index.search({"unknown": 1}) == []


def test_history_index_finds_the_same_kind_of_ticket() -> None:
    past = [
        PastTicket(1, "Printer jam", 45, doc_terms("Printer jam", "paper stuck in the tray")),
        PastTicket(2, "Printer toner", 50, doc_terms("Printer toner", "toner empty, paper jam")),
        PastTicket(3, "VPN down", 120, doc_terms("VPN down", "the vpn tunnel drops")),
        PastTicket(4, "VPN cert", 100, doc_terms("VPN cert", "vpn certificate expired")),
    ]
    index = HistoryIndex(past)
    s = index.suggest(doc_terms("printer paper jam", "the printer has a paper jam"), [])
    assert s is not None and s.minutes in (45, 50)
    v = index.suggest(doc_terms("vpn tunnel", "my vpn tunnel keeps dropping"), [])
    assert v is not None and v.minutes >= 100
    assert index.median_minutes == 75
