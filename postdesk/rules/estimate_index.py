"""The history a time-estimate suggestion looks at, read from the store and cached per process.

Candidates are the newest ``CANDIDATES`` support tickets with an actual time recorded; each is
the words of its subject and first message (the same query builder as KB search, so a mail and
a past ticket are compared on equal terms). The BM25 index is rebuilt only when the stamp of
those rows (count, highest ticket id, newest actual time) moves, and the words of a ticket are
kept between rebuilds, so recording one more actual time re-reads one ticket, not 2,000.
The rebuild runs inside the processing transaction, so on a busy desk it is rate-limited: a
stale index is used until ``rebuild_share`` x (time since the last build) exceeds what that
build cost (about one rebuild a second at 2,000 tickets). Builds quicker than
``THROTTLE_ABOVE`` are never put off (a small desk always sees its newest times), and the
client's ratios are always read fresh.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from statistics import median

from sqlalchemy import URL, func, or_, select
from sqlalchemy.orm import Session

from postdesk.rules.estimate import CLIENT_HISTORY, Neighbour, Suggestion, suggest
from postdesk.rules.kb_text import build_query
from postdesk.rules.similarity import Bm25
from postdesk.store.direct import flush_pending
from postdesk.store.enums import TicketType
from postdesk.store.models import Message, Ticket
from postdesk.store.prepared import Prepared
from postdesk.store.session_cache import is_remembered, remembered
from postdesk.store.task_models import TicketEstimate

CANDIDATES = 2000
BODY_CHARS = 4000  # the top of a mail says what it is about; a pasted log says little
SEARCH_DEPTH = 20
THROTTLE_ABOVE = 0.02  # seconds a build must have taken before rebuilds are rate-limited


def doc_terms(subject: str, text: str) -> dict[str, int]:
    return build_query(subject, text[:BODY_CHARS])


@dataclass(frozen=True, slots=True)
class PastTicket:
    ticket_id: int
    subject: str
    minutes: int
    terms: Mapping[str, int]


class HistoryIndex:
    """Resolved tickets with their actual times, searchable by text. Immutable."""

    def __init__(self, past: Sequence[PastTicket]) -> None:
        self.past = {p.ticket_id: p for p in past}
        self.bm25: Bm25[int] = Bm25([(p.ticket_id, p.terms) for p in past])
        self.median_minutes = float(median(p.minutes for p in past)) if past else None

    def __len__(self) -> int:
        return len(self.past)

    def neighbours(
        self, terms: Mapping[str, int], *, exclude: int | None = None
    ) -> list[Neighbour]:
        hits = self.bm25.search(terms, limit=SEARCH_DEPTH)
        out: list[Neighbour] = []
        for hit in hits:
            if hit.key == exclude:
                continue
            p = self.past[hit.key]
            out.append(Neighbour(p.ticket_id, p.subject, p.minutes, hit.relevance, hit.matched))
        return out

    def suggest(
        self, terms: Mapping[str, int], ratios: Sequence[float], *, exclude: int | None = None
    ) -> Suggestion | None:
        return suggest(
            self.neighbours(terms, exclude=exclude),
            ratios,
            fallback_minutes=self.median_minutes,
            fallback_count=len(self),
        )


Stamp = tuple[URL, int | None, datetime | None]
TermsKey = tuple[URL, int, datetime]  # a restored or emptied database reuses ticket ids

# Two index lookups, not an aggregate over the history: this runs for every new support
# ticket. Recording or changing an actual time moves ``actual_at``.
_STAMP = Prepared(
    select(func.max(TicketEstimate.ticket_id), func.max(TicketEstimate.actual_at)).where(
        TicketEstimate.actual_minutes.is_not(None)
    )
)


class StoreEstimateIndex:
    """``HistoryIndex`` over the store, rebuilt when the candidate rows change."""

    def __init__(self, candidates: int = CANDIDATES, *, rebuild_share: float | None = 0.1) -> None:
        self.candidates = candidates
        self.rebuild_share = rebuild_share  # None: rebuild on every change
        self._lock = threading.Lock()
        self._built: tuple[Stamp, HistoryIndex] | None = None
        self._last_build = (0.0, 0.0)  # monotonic end, seconds it took
        self._terms: dict[TermsKey, tuple[str, dict[str, int]]] = {}

    def ask_stamp(self, session: Session) -> None:
        """Send ``stamp``'s read ahead (``Prepared.ask``) unless this transaction has it."""
        if not is_remembered(session, "estimate_stamp"):
            _STAMP.ask(session, {})

    def stamp(self, session: Session) -> Stamp:
        """What the index is built from: ``stamp[1]`` is None while no time is recorded."""
        flush_pending(session, TicketEstimate)
        top, newest = remembered(
            session,
            "estimate_stamp",
            (TicketEstimate,),
            lambda: _STAMP.first(session, {}) or (None, None),
        )
        return (session.get_bind().engine.url, top, newest)

    def index(self, session: Session, stamp: Stamp | None = None) -> HistoryIndex:
        """The index for ``stamp`` (read now when not given)."""
        if stamp is None:
            stamp = self.stamp(session)
        url = stamp[0]
        with self._lock:
            if self._built is not None and self._built[0] == stamp:
                return self._built[1]
            ended, cost = self._last_build
            if (
                self.rebuild_share is not None
                and self._built is not None
                and self._built[0][0] == url
                and cost > THROTTLE_ABOVE
                and (time.monotonic() - ended) * self.rebuild_share < cost
            ):
                return self._built[1]  # rebuilt very recently: slightly stale is fine
        started = time.monotonic()
        rows = session.execute(
            select(TicketEstimate.ticket_id, TicketEstimate.actual_minutes, Ticket.created_at)
            .join(Ticket, Ticket.id == TicketEstimate.ticket_id)
            .where(TicketEstimate.actual_minutes.is_not(None), Ticket.type == TicketType.SUPPORT)
            .order_by(TicketEstimate.actual_at.desc(), TicketEstimate.ticket_id.desc())
            .limit(self.candidates)
        ).all()
        keys = {r.ticket_id: (url, r.ticket_id, r.created_at) for r in rows}
        missing = [tid for tid, key in keys.items() if key not in self._terms]
        fresh = _read_terms(session, missing)
        with self._lock:
            self._terms.update({keys[tid]: v for tid, v in fresh.items()})
            past = []
            for r in rows:
                known = self._terms.get(keys[r.ticket_id])
                if known is not None:
                    past.append(PastTicket(r.ticket_id, known[0], r.actual_minutes, known[1]))
            index = HistoryIndex(past)
            self._built = (stamp, index)
            self._last_build = (time.monotonic(), time.monotonic() - started)
            if len(self._terms) > 4 * self.candidates:  # tickets that left the window
                keep = set(keys.values())
                self._terms = {k: v for k, v in self._terms.items() if k in keep}
        return index


def _read_terms(session: Session, ids: Sequence[int]) -> dict[int, tuple[str, dict[str, int]]]:
    """Subject and the words of the first inbound message of each ticket."""
    out: dict[int, tuple[str, dict[str, int]]] = {}
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        first = (
            select(func.min(Message.id))
            .where(Message.ticket_id.in_(chunk), Message.direction == "in")
            .group_by(Message.ticket_id)
        )
        texts = {
            r.ticket_id: r.text_new or r.text_full
            for r in session.execute(
                select(Message.ticket_id, Message.text_new, Message.text_full).where(
                    Message.id.in_(first)
                )
            )
        }
        for tid, subject in session.execute(
            select(Ticket.id, Ticket.subject).where(Ticket.id.in_(chunk))
        ):
            out[tid] = (subject, doc_terms(subject, texts.get(tid, "")))
    return out


def client_ratios(
    session: Session, *, org_id: int | None, requester_id: int | None, before: int | None = None
) -> list[float]:
    """The client's actual / text-only estimate ratios, newest first: of the organisation when
    the requester belongs to one, else of the requester."""
    if org_id is None and requester_id is None:
        return []
    who = (
        TicketEstimate.org_id == org_id
        if org_id is not None
        else TicketEstimate.requester_id == requester_id
    )
    query = (
        select(
            TicketEstimate.actual_minutes,
            TicketEstimate.suggested_minutes,
            TicketEstimate.client_factor,
            TicketEstimate.agent_minutes,
        )
        .where(
            who,
            TicketEstimate.actual_minutes.is_not(None),
            or_(
                TicketEstimate.suggested_minutes.is_not(None),
                TicketEstimate.agent_minutes.is_not(None),
            ),
        )
        .order_by(TicketEstimate.actual_at.desc(), TicketEstimate.ticket_id.desc())
        .limit(CLIENT_HISTORY)
    )
    if before is not None:
        query = query.where(TicketEstimate.ticket_id != before)
    ratios: list[float] = []
    for actual, suggested, factor, agent in session.execute(query):
        # Compare with the text-only part of the suggestion; otherwise a factor already applied
        # would look like a client that needs less and the estimates would swing back and forth.
        basis = suggested / (factor or 1.0) if suggested else agent
        if actual and basis:
            ratios.append(actual / basis)
    return ratios
