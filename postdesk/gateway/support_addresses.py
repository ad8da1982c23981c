"""The effective support addresses: the settings' ones and those added in the admin.

Read through one provider with a short TTL cache, so every gateway process sharing the
database sees an address added in the admin within a few seconds, without a restart, while
a busy SMTP listener asks the database at most once per TTL.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address

from sqlalchemy import select

from postdesk.store.db import Database
from postdesk.store.runtime_models import SupportAddressRow

log = logging.getLogger(__name__)
TTL_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class SupportAddress:
    address: str
    display_name: str = ""
    default_type: str | None = None
    default_team: str | None = None
    from_settings: bool = False


def check_address(value: str) -> str:
    """The address in lower case, or ValueError saying what is wrong with it.

    Strict on purpose: a bare ``local@domain.tld``, no display name, no plus (the plus part is
    ours: reply and note addresses are ``local+token@domain``)."""
    value = value.strip()
    if not value:
        raise ValueError("an address is needed")
    if any(c in value for c in " <>,;\"'()[]\\") or value.count("@") != 1:
        raise ValueError(f"{value!r} is not a plain address like support@example.com")
    try:
        parsed = Address(addr_spec=value)
    except (HeaderParseError, ValueError, IndexError) as exc:
        raise ValueError(f"{value!r} is not a valid address: {exc}") from exc
    local, domain = parsed.username, parsed.domain
    if not local or "." not in domain or domain.startswith(".") or domain.endswith("."):
        raise ValueError(f"{value!r} needs a domain with a dot, e.g. support@example.com")
    if "+" in local:
        raise ValueError("a support address may not contain a plus sign (reply addresses use it)")
    if len(value) > 254:
        raise ValueError("an address is at most 254 characters")
    return value.lower()


def merge(configured: Sequence[str], rows: Sequence[SupportAddress]) -> tuple[SupportAddress, ...]:
    """Settings first (their first address stays the primary), then rows not already there."""
    seen = {a.lower() for a in configured}
    base = [SupportAddress(a.lower(), from_settings=True) for a in configured]
    return tuple(base + [r for r in rows if r.address not in seen])


class SupportAddresses:
    """The effective set; ``current()`` is cheap while the cache is fresh.

    ``current()`` and ``entries()`` may read the database, so they are called outside any
    transaction: on SQLite every read begins IMMEDIATE and would wait for a write transaction
    held by the same thread. Inside a transaction use ``known()`` / ``entry()`` (no I/O).
    """

    def __init__(
        self,
        configured: Sequence[str],
        db: Database | None = None,
        *,
        ttl: float = TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.configured = tuple(a.lower() for a in configured)
        self.db = db
        self.ttl = ttl
        self.clock = clock
        self._entries = merge(self.configured, [])
        self._addresses = tuple(e.address for e in self._entries)
        self._loaded_at: float | None = None if db is not None else float("inf")
        self._lock = threading.Lock()
        self._reloading = threading.Event()

    def fresh(self) -> tuple[str, ...] | None:
        """The cached addresses if still fresh, else None (the caller may refresh off-loop)."""
        at = self._loaded_at
        return self._addresses if at is not None and self.clock() - at < self.ttl else None

    def current(self) -> tuple[str, ...]:
        cached = self.fresh()
        return cached if cached is not None else self._refresh()

    def known(self) -> tuple[str, ...]:
        """The addresses as last loaded, without waiting for the database; when stale, a
        background thread reloads them (it waits for the caller's transaction, not vice versa)."""
        if self.fresh() is None and not self._reloading.is_set():
            self._reloading.set()
            threading.Thread(target=self._reload, daemon=True, name="support-addresses").start()
        return self._addresses

    def _reload(self) -> None:
        try:
            self._refresh()
        finally:
            self._reloading.clear()

    def entries(self) -> tuple[SupportAddress, ...]:
        self.current()
        return self._entries

    def entry(self, address: str) -> SupportAddress | None:
        """The last loaded entry for ``address`` (no I/O: safe inside a transaction)."""
        address = address.lower()
        return next((e for e in self._entries if e.address == address), None)

    def display_name(self, address: str) -> str | None:
        found = self.entry(address)
        return found.display_name or None if found is not None else None

    def invalidate(self) -> None:
        """Forget the cache (this process changed the rows); other processes wait the TTL."""
        if self.db is not None:
            self._loaded_at = None

    def _refresh(self) -> tuple[str, ...]:
        with self._lock:
            if (cached := self.fresh()) is not None:
                return cached  # another thread refreshed while we waited
            try:
                rows = load_rows(self.db) if self.db is not None else []
            except Exception as exc:  # the database is down: keep serving the last known set
                log.warning("support addresses: keeping the last known set: %s", exc)
                rows = [e for e in self._entries if not e.from_settings]
            self._entries = merge(self.configured, rows)
            self._addresses = tuple(e.address for e in self._entries)
            self._loaded_at = self.clock()
            return self._addresses


def load_rows(db: Database) -> list[SupportAddress]:
    with db.sessions() as s:
        rows = s.scalars(select(SupportAddressRow).order_by(SupportAddressRow.address))
        return [
            SupportAddress(r.address, r.display_name, r.default_type, r.default_team) for r in rows
        ]
