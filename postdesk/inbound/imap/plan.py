"""Pure decisions of the mailbox worker: which UIDs are new, how to fetch them, how long to wait."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cursor:
    last_uid: int
    resync: bool  # UIDVALIDITY changed (or first run on a known mailbox): start again from 0


def cursor_start(stored_validity: int | None, stored_last: int, server_validity: int) -> Cursor:
    """UIDs only mean something within one UIDVALIDITY; a change invalidates the cursor."""
    if stored_validity is None:
        return Cursor(0, resync=False)
    if stored_validity != server_validity:
        return Cursor(0, resync=True)
    return Cursor(stored_last, resync=False)


def new_uids(found: Iterable[int], last_uid: int) -> list[int]:
    """``UID n:*`` also answers the highest UID when it is below n (RFC 3501): filter it out."""
    return sorted({uid for uid in found if uid > last_uid})


def flagged_through(flagged: Iterable[int], unflagged: Iterable[int], last_uid: int) -> int:
    """How far the cursor may move past messages flagged by a poller that died before moving it.

    A message is flagged only after its row is committed, so the cursor may pass flagged
    messages, but never one still unflagged (not stored yet) nor anything after it.
    """
    first_open = min(unflagged, default=None)
    passable = [u for u in flagged if u > last_uid and (first_open is None or u < first_open)]
    return max(passable, default=last_uid)


@dataclass(frozen=True, slots=True)
class Fetch:
    uids: tuple[int, ...]  # fetched with BODY.PEEK[] in one command


@dataclass(frozen=True, slots=True)
class Quarantine:
    uid: int
    size: int


Step = Fetch | Quarantine


def plan_steps(
    uids: Iterable[int], sizes: Mapping[int, int], *, max_message_bytes: int, budget_bytes: int
) -> list[Step]:
    """Steps in UID order, so the cursor can advance after each one.

    Messages above ``max_message_bytes`` are quarantined one by one; the others are grouped
    so that one FETCH never holds more than ``budget_bytes`` (but at least one message).
    UIDs without a size vanished meanwhile and are left out.
    """
    steps: list[Step] = []
    group: list[int] = []
    group_bytes = 0
    for uid in sorted(uids):
        if uid not in sizes:
            continue
        size = sizes[uid]
        if size > max_message_bytes:
            if group:
                steps.append(Fetch(tuple(group)))
                group, group_bytes = [], 0
            steps.append(Quarantine(uid, size))
            continue
        if group and group_bytes + size > budget_bytes:
            steps.append(Fetch(tuple(group)))
            group, group_bytes = [], 0
        group.append(uid)
        group_bytes += size
    if group:
        steps.append(Fetch(tuple(group)))
    return steps


def backoff_delay(
    attempt: int, minimum: float, maximum: float, rng: random.Random | None = None
) -> float:
    """Exponential backoff with ±20 % jitter, so many workers do not reconnect in step."""
    base = min(maximum, minimum * (2 ** max(0, attempt - 1)))
    jitter = (rng or random).uniform(0.8, 1.2)
    return min(maximum, base * jitter)


def is_bye(responses: Iterable[tuple[object, ...]]) -> bool:
    return any(len(r) > 0 and r[0] == b"BYE" for r in responses)


def has_new_mail(responses: Iterable[tuple[object, ...]]) -> bool:
    return any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses)
