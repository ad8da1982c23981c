"""The rules in force now: the rules document edited in the admin when there is one, else
the rules file (or the built-in rules). Every process re-checks the stored document's
version every few seconds (``DocumentCache``), so an edit applies without a restart.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar, overload

from postdesk.rules.builtin import build_rules, build_rules_text
from postdesk.rules.engine import Rule
from postdesk.rules.escalation import Level
from postdesk.rules.loader import DEFAULTS, RulesError
from postdesk.rules.schema import RulesFile
from postdesk.rules.suggest import SuggestConfig
from postdesk.store.config_docs import RULES, DocumentCache

log = logging.getLogger(__name__)
STORED = "rules edited in the admin"
T = TypeVar("T")

Built = tuple[list[Rule], RulesFile]


class LiveRules:
    """Builds the rules again when the stored document's version changes; a stored document
    that no longer builds (saved ones are validated) is logged and the last good rules kept."""

    def __init__(
        self,
        docs: DocumentCache,
        rules_file: Path | None,
        on_call: str | None = None,
        kb: SuggestConfig | None = None,
    ) -> None:
        self.docs = docs
        self._build_file = lambda: build_rules(rules_file, on_call, kb)
        self._build_text = lambda text: build_rules_text(text, STORED, on_call, kb)
        self._file: Built = self._build_file()  # a bad file stops the start, as before
        self._lock = threading.Lock()
        self._stamp: object = None
        self._current: Built = self._file

    def snapshot(self) -> Built:
        stamp = self.docs.version(RULES)
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp
                self._current = self._rebuild(self.docs.get(RULES))
            return self._current

    def _rebuild(self, body: str | None) -> Built:
        if body is None:
            return self._file
        try:
            return self._build_text(body)
        except RulesError as exc:
            log.error("the stored rules do not build; keeping the previous ones: %s", exc)
            return self._current

    def check(self, text: str) -> Built:
        """Build ``text`` as the stored document would be built; raises ``RulesError``."""
        return self._build_text(text)

    @property
    def rules(self) -> LiveList[Rule]:
        return LiveList(lambda: self.snapshot()[0])

    @property
    def escalation(self) -> LiveList[Level]:
        return LiveList(lambda: self.snapshot()[1].settings.escalation)

    @property
    def config(self) -> RulesFile:
        return self.snapshot()[1]


class LiveList(Sequence[T]):
    """A read-only list that asks for its items on every use: the pipeline keeps one of these
    and sees the rules of the moment."""

    def __init__(self, get: Callable[[], Sequence[T]]) -> None:
        self._get = get

    @overload
    def __getitem__(self, i: int) -> T: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[T]: ...
    def __getitem__(self, i: int | slice) -> T | Sequence[T]:
        return self._get()[i]

    def __len__(self) -> int:
        return len(self._get())

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._get()))


def file_text(rules_file: Path | None) -> str:
    """What the rules editor starts from when nothing is stored: the file, or the defaults."""
    path = rules_file or DEFAULTS
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        return f"# cannot read {path}: {exc.strerror}\n"
