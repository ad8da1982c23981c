"""Login throttling: at most N failed sign-ins per (address, client IP) in a sliding window.

Kept in memory: good for one process. Several processes each count their own failures (so
the real limit is N per process); a shared store would be needed to make it global.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta
from threading import Lock


class LoginLimiter:
    def __init__(self, max_failures: int = 5, window: timedelta = timedelta(minutes=15)) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[tuple[str, str], deque[datetime]] = {}
        self._lock = Lock()

    def blocked(self, email: str, ip: str, now: datetime) -> bool:
        with self._lock:
            return len(self._recent((email.lower(), ip), now)) >= self.max_failures

    def failed(self, email: str, ip: str, now: datetime) -> None:
        with self._lock:
            self._recent((email.lower(), ip), now).append(now)
            if len(self._failures) > 100_000:  # bound memory under a spray of addresses
                self._failures.clear()

    def succeeded(self, email: str, ip: str) -> None:
        with self._lock:
            self._failures.pop((email.lower(), ip), None)

    def _recent(self, key: tuple[str, str], now: datetime) -> deque[datetime]:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] >= self.window:
            times.popleft()
        return times
