"""A parser process: messages come in on one pipe, and each one's parse goes out on another.

The gateway's side is ``parse_workers.py``. A job is two frames, ``(seq, envelope_from)``
pickled and then the message's bytes; its answer is one frame, ``(seq, Understood, None)``
or ``(seq, None, error)`` pickled, in the order the jobs came. The process ends when the
gateway closes its end of the job pipe, or when the gateway process ends, however it ends.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import select
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from structlog.contextvars import bound_contextvars

from postdesk.contracts import BlobStore
from postdesk.gateway import logs
from postdesk.gateway.receive import QuickHeaders, quick_headers
from postdesk.inbound.classify import Classification, classify
from postdesk.inbound.message import InboundMessage
from postdesk.inbound.parse import parse_message
from postdesk.store.blobs import FileBlobStore


@dataclass(frozen=True, slots=True)
class Understood:
    """A message parsed and classified, before any transaction."""

    quick: QuickHeaders
    inbound: InboundMessage
    verdict: Classification


def understand(
    blobs: BlobStore, keys: Sequence[bytes], raw: bytes, envelope_from: str, content_hash: str
) -> Understood:
    """Parse and classify ``raw`` (the slow, pure part of receiving a message)."""
    quick = quick_headers(raw, content_hash)
    with bound_contextvars(message_id=quick.message_id):
        inbound = parse_message(raw, blobs)
        verdict = classify(inbound, raw, envelope_from=envelope_from, keys=keys)
    return Understood(quick, inbound, verdict)


def serve(
    jobs: Connection,
    answers: Connection,
    gateway: int,
    blob_dir: Path,
    keys: tuple[bytes, ...],
    log_mode: tuple[bool, bool] | None,
) -> None:
    """The process's main function: answer jobs until the gateway closes the pipe."""
    _end_with(gateway)
    if log_mode is not None:  # the gateway's format; else Python's default (warnings on stderr)
        json, verbose = log_mode
        logs.configure_logging(json=json, verbose=verbose)
    blobs = FileBlobStore(blob_dir)
    while True:
        try:
            seq, envelope_from = pickle.loads(jobs.recv_bytes())
            raw = jobs.recv_bytes()
        except (EOFError, OSError):
            return
        answers.send_bytes(_answer(seq, blobs, keys, raw, envelope_from))


def _answer(
    seq: int, blobs: BlobStore, keys: Sequence[bytes], raw: bytes, envelope_from: str
) -> bytes:
    try:
        done = understand(blobs, keys, raw, envelope_from, hashlib.sha256(raw).hexdigest())
        return pickle.dumps((seq, done, None), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # the gateway parses it again and records the error there
        return pickle.dumps((seq, None, f"{type(exc).__name__}: {exc}"[:500]))


def _end_with(gateway: int) -> None:
    """End this process when the gateway process ends, however it ends (a SIGKILL too)."""
    try:
        handle: int | None = os.pidfd_open(gateway)
    except ProcessLookupError:
        os._exit(0)
    except (AttributeError, OSError):  # not Linux 5.3 or later: look once a second
        handle = None

    def watch() -> None:
        if handle is not None:
            select.select([handle], [], [])  # readable once that process has exited
        else:
            while _alive(gateway):
                time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="gateway-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
