"""One mailbox's worker: connect, drain new UIDs, act on them after commit, IDLE or poll.

Order for every message, which is what makes a crash harmless: fetch (``BODY.PEEK[]``, so
nothing changes on the server) -> ``receive`` commits -> flag/move/delete on the server ->
advance the stored cursor. A crash anywhere re-fetches the message; receive recognises the
bytes as a redelivery, so it is acted on but never stored twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from imapclient import IMAPClient

from postdesk.contracts import BlobStore
from postdesk.gateway.receive import ReceiveResult, receive
from postdesk.inbound.imap.config import MailboxConfig
from postdesk.inbound.imap.connection import ConnectionLost, TokenProvider, close_quietly, connect
from postdesk.inbound.imap.plan import (
    Fetch,
    Quarantine,
    backoff_delay,
    cursor_start,
    flagged_through,
    has_new_mail,
    is_bye,
    new_uids,
    plan_steps,
)
from postdesk.inbound.imap.quarantine import record_quarantined
from postdesk.inbound.imap.state import MailboxStateStore
from postdesk.inbound.message import Envelope
from postdesk.store.db import Database

log = logging.getLogger(__name__)

OnReceived = Callable[[int, ReceiveResult], None]  # (uid, result), before the server is touched
Progress = Callable[[int, int], None]  # (done in this batch, backlog before it)
IDLE_TICK = 0.5  # seconds between stop checks while idling
CHUNK = 1024 * 1024  # bytes per partial FETCH when streaming a quarantined message


@dataclass
class SyncCounts:
    new: int = 0
    redelivery: int = 0
    duplicate: int = 0
    quarantined: int = 0

    @property
    def total(self) -> int:
        return self.new + self.redelivery + self.duplicate + self.quarantined

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)


class MailboxWorker:
    def __init__(
        self,
        cfg: MailboxConfig,
        db: Database,
        blobs: BlobStore,
        *,
        on_received: OnReceived | None = None,
        token_provider: TokenProvider | None = None,
    ) -> None:
        self.cfg = cfg
        self.db = db
        self.blobs = blobs
        self.on_received = on_received
        self.token_provider = token_provider
        self.state = MailboxStateStore(db, cfg.name)
        self.envelope = Envelope(
            mail_from="",
            source=cfg.source,
            rcpt_to=(cfg.support_address,) if cfg.support_address else (),
        )
        self.counts = SyncCounts()  # since the worker was built
        self._keywords = True  # the server keeps custom keywords (set on every SELECT)
        self.connects = 0
        # A poller killed between flagging messages and storing its cursor leaves the cursor
        # behind them; the first drain on each connection moves it past them.
        self._cursor_checked = False

    # -- the long-running loop -------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Until ``stop`` is set: stay connected, drain, wait for mail; back off on errors."""
        failures = 0
        while not stop.is_set():
            client: IMAPClient | None = None
            try:
                client = self.open()
                while not stop.is_set():
                    self.sync(client, stop)
                    failures = 0
                    self.wait_for_mail(client, stop)
            except Exception as exc:  # any failure: record, back off, reconnect
                failures += 1
                delay = backoff_delay(
                    failures, self.cfg.backoff_min_seconds, self.cfg.backoff_max_seconds
                )
                log.warning(
                    "mailbox %s: %s; reconnecting in %.1fs", self.cfg.name, _describe(exc), delay
                )
                self._record_error(exc)
                close_quietly(client)
                client = None
                stop.wait(delay)
            finally:
                close_quietly(client)
        self._quiet(lambda: self.state.connected(False))

    def open(self) -> IMAPClient:
        client = connect(self.cfg, self.token_provider)
        self.connects += 1
        self._cursor_checked = False
        try:
            target = self.cfg.move_to if self.cfg.after_ingest == "move" else None
            if target and not client.folder_exists(target):
                client.create_folder(target)
            self.state.connected(True)
        except BaseException:
            close_quietly(client)
            raise
        return client

    def wait_for_mail(self, client: IMAPClient, stop: threading.Event) -> None:
        if not (self.cfg.idle and client.has_capability("IDLE")):
            stop.wait(self.cfg.poll_interval)
            return
        # Mail that arrived after the last SEARCH may not be announced in IDLE at all (Dovecot
        # sent it only on DONE, 30 s later): a NOOP reports it now, so look before idling.
        _text, responses = client.noop()
        if is_bye(responses):
            raise ConnectionLost("server said BYE")
        if not has_new_mail(responses):
            self._idle(client, stop)

    def _idle(self, client: IMAPClient, stop: threading.Event) -> None:
        """Return on new mail, on stop, or to renew IDLE; raise ConnectionLost on BYE."""
        client.idle()
        started = time.monotonic()
        while not stop.is_set():
            responses = client.idle_check(timeout=IDLE_TICK)
            if is_bye(responses):
                raise ConnectionLost("server said BYE during IDLE")
            if has_new_mail(responses) or time.monotonic() - started > self.cfg.idle_renew_seconds:
                break
        # On a dead network DONE gets no answer: the socket's read timeout turns that into an
        # error, and the loop reconnects.
        _text, responses = client.idle_done()
        if is_bye(responses):
            raise ConnectionLost("server said BYE")

    # -- one drain ---------------------------------------------------------------------------

    def sync(
        self,
        client: IMAPClient,
        stop: threading.Event | None = None,
        progress: Progress | None = None,
    ) -> SyncCounts:
        """Ingest everything new in the folder, batch by batch; return what this call did."""
        counts = SyncCounts()
        info = client.select_folder(self.cfg.folder)
        validity = int(info[b"UIDVALIDITY"])
        permanent = info.get(b"PERMANENTFLAGS", ())
        # Without custom keywords (no \* in PERMANENTFLAGS) only \Seen and the cursor remain.
        self._keywords = b"\\*" in permanent or self.cfg.flag.encode() in permanent
        stored_validity, stored_last = self.state.load()
        cursor = cursor_start(stored_validity, stored_last, validity)
        if cursor.resync:
            log.warning(
                "mailbox %s: UIDVALIDITY %s -> %s, resyncing from 0 (dedupe keeps everything once)",
                self.cfg.name,
                stored_validity,
                validity,
            )
        if stored_validity != validity:
            self.state.advance(validity, 0)
        last = cursor.last_uid
        pending: list[int] = []
        while stop is None or not stop.is_set():
            pending = self._search(client, last)
            if not self._cursor_checked:
                last = self._past_flagged(client, validity, last, pending)
                self._cursor_checked = True
            self.state.backlog(len(pending))
            if not pending:
                break
            window = pending[: self.cfg.batch_size]
            last = self._ingest_window(client, validity, window, len(pending) - len(window), counts)
            if progress is not None:
                progress(len(window), len(pending))
            pending = pending[len(window) :]
        self.state.synced(backlog=len(pending))  # 0 unless stopped early
        return counts

    @property
    def _skips_flagged(self) -> bool:
        return self.cfg.after_ingest == "keep_flag" and self._keywords

    def _search(self, client: IMAPClient, last: int) -> list[int]:
        criteria: list[str] = ["UID", f"{last + 1}:*"]
        if self._skips_flagged:
            # Messages we flagged were committed before: skipping them makes a resync cheap.
            criteria += ["NOT", "KEYWORD", self.cfg.flag]
        return new_uids(client.search(criteria), last)

    def _past_flagged(
        self, client: IMAPClient, validity: int, last: int, pending: list[int]
    ) -> int:
        """Move the cursor past flagged (so committed) messages a dead poller left it behind."""
        if not self._skips_flagged:
            return last
        flagged = client.search(["UID", f"{last + 1}:*", "KEYWORD", self.cfg.flag])
        moved = flagged_through(flagged, pending, last)
        if moved > last:
            log.info(
                "mailbox %s: cursor %s -> %s, past flagged messages", self.cfg.name, last, moved
            )
            self.state.advance(validity, moved, backlog=len(pending))
        return moved

    def _ingest_window(
        self, client: IMAPClient, validity: int, window: list[int], rest: int, counts: SyncCounts
    ) -> int:
        sizes = {
            uid: int(data[b"RFC822.SIZE"])
            for uid, data in client.fetch(window, ["RFC822.SIZE"]).items()
            if b"RFC822.SIZE" in data
        }
        steps = plan_steps(
            window,
            sizes,
            max_message_bytes=self.cfg.max_message_bytes,
            budget_bytes=self.cfg.fetch_budget_bytes,
        )

        def acknowledge(done: list[int]) -> None:
            # Only ever called with UIDs whose inbox rows are committed.
            if done:
                self._act(client, done)
                remaining = sum(1 for uid in window if uid > max(done)) + rest
                self.state.advance(validity, max(done), backlog=remaining)

        for step in steps:
            if isinstance(step, Quarantine):
                self._quarantine(client, step)
                counts.add("quarantined")
                self.counts.add("quarantined")
                acknowledge([step.uid])
            else:
                self._fetch_and_receive(client, step, counts, acknowledge)
        self.state.advance(validity, max(window))  # past UIDs that vanished meanwhile too
        return max(window)

    def _fetch_and_receive(
        self,
        client: IMAPClient,
        step: Fetch,
        counts: SyncCounts,
        acknowledge: Callable[[list[int]], None],
    ) -> None:
        """Receive each fetched message; on a failure, acknowledge those already committed."""
        fetched = client.fetch(list(step.uids), ["BODY.PEEK[]"])
        done: list[int] = []
        try:
            for uid in step.uids:
                raw = fetched.get(uid, {}).get(b"BODY[]")
                if raw is None:
                    continue  # expunged by someone else meanwhile
                result = receive(self.db, self.blobs, bytes(raw), self.envelope)
                done.append(uid)  # committed: acknowledged even if the callback below fails
                counts.add(result.outcome)
                self.counts.add(result.outcome)
                if self.on_received is not None:
                    self.on_received(uid, result)
        except BaseException:
            acknowledge(done)  # the failed message and those after it stay untouched
            raise
        acknowledge(done)

    def _quarantine(self, client: IMAPClient, step: Quarantine) -> None:
        header = (
            client.fetch([step.uid], ["BODY.PEEK[HEADER]"])
            .get(step.uid, {})
            .get(b"BODY[HEADER]", b"")
        )
        content_hash, size = self.blobs.put_stream(self._chunks(client, step.uid, step.size))
        reason = (
            f"message of {size} bytes exceeds max_message_bytes="
            f"{self.cfg.max_message_bytes} of mailbox {self.cfg.name} (UID {step.uid})"
        )
        result = record_quarantined(
            self.db,
            content_hash=content_hash,
            header=bytes(header),
            size=size,
            envelope=self.envelope,
            reason=reason,
        )
        log.warning(
            "mailbox %s: quarantined UID %s as inbox %s: %s",
            self.cfg.name,
            step.uid,
            result.inbox_id,
            reason,
        )

    def _chunks(self, client: IMAPClient, uid: int, size: int) -> Iterator[bytes]:
        """The message in partial fetches, so memory stays at one chunk whatever its size."""
        offset = 0
        while offset < size:
            key = f"BODY[]<{offset}>".encode()
            data = client.fetch([uid], [f"BODY.PEEK[]<{offset}.{CHUNK}>"]).get(uid, {})
            chunk = bytes(data.get(key) or b"")
            if not chunk:
                return
            yield chunk
            offset += len(chunk)

    def _act(self, client: IMAPClient, uids: list[int]) -> None:
        """What the mailbox is configured to do with committed messages."""
        mode = self.cfg.after_ingest
        if mode == "keep_flag":
            flags = [self.cfg.flag] if self._keywords else []
            flags += ["\\Seen"] if self.cfg.mark_seen or not flags else []
            client.add_flags(uids, flags, silent=True)
            return
        if mode == "move" and client.has_capability("MOVE"):
            assert self.cfg.move_to is not None
            client.move(uids, self.cfg.move_to)
            return
        if mode == "move":
            assert self.cfg.move_to is not None
            client.copy(uids, self.cfg.move_to)
        client.add_flags(uids, ["\\Deleted"], silent=True)
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)
        else:
            client.expunge()  # also removes others' \Deleted messages: the best IMAP4rev1 offers

    # -- status ------------------------------------------------------------------------------

    def _record_error(self, exc: BaseException) -> None:
        self._quiet(lambda: self.state.error(_describe(exc)))

    def _quiet(self, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception:  # the status row must never take the worker down
            log.exception("mailbox %s: could not record status", self.cfg.name)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
