"""Mailboxes added in the admin (table ``imap_mailboxes``), and a one-off connection test."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from postdesk.inbound.imap.config import MailboxConfig, load_mailboxes
from postdesk.inbound.imap.connection import close_quietly, connect
from postdesk.inbound.imap.supervisor import advisory_key
from postdesk.store.db import Database
from postdesk.store.runtime_models import ImapMailboxRow

log = logging.getLogger(__name__)
PROBE_TIMEOUT = 10.0


def config_from_row(row: ImapMailboxRow) -> MailboxConfig:
    return MailboxConfig.model_validate(
        {
            "name": row.name,
            "host": row.host,
            "port": row.port,
            "security": row.security,
            "username": row.username,
            "password": row.password,
            "folder": row.folder,
            "after_ingest": "move" if row.move_to else "keep_flag",
            "move_to": row.move_to or None,
            "support_address": row.support_address or None,
        }
    )


def stored_mailboxes(db: Database) -> list[MailboxConfig]:
    """The admin's mailboxes; a row that no longer validates is skipped with a warning."""
    with db.sessions() as s:
        rows = list(s.scalars(select(ImapMailboxRow).order_by(ImapMailboxRow.name)))
    boxes = []
    for row in rows:
        try:
            boxes.append(config_from_row(row))
        except ValueError as exc:
            log.warning("stored mailbox %s is invalid, not polled: %s", row.name, exc)
    return boxes


def file_mailboxes(path: Path | None) -> list[MailboxConfig]:
    return load_mailboxes(path) if path is not None else []


def effective(file_boxes: Sequence[MailboxConfig], db_boxes: Sequence[MailboxConfig]) -> list:
    """The settings file's mailboxes, then the admin's whose name the file does not use."""
    names = {b.name for b in file_boxes}
    return [*file_boxes, *(b for b in db_boxes if b.name not in names)]


@dataclass(frozen=True, slots=True)
class Probe:
    ok: bool
    detail: str


def probe(cfg: MailboxConfig, timeout: float = PROBE_TIMEOUT) -> Probe:
    """Log in, select the folder read-only and count its messages; or the exact error."""
    cfg = cfg.model_copy(update={"connect_timeout": timeout, "read_timeout": timeout})
    client = None
    try:
        client = connect(cfg)
        info = client.select_folder(cfg.folder, readonly=True)
        count = int(info.get(b"EXISTS", 0))
        return Probe(True, f"logged in as {cfg.username}; {cfg.folder} holds {count} message(s)")
    except Exception as exc:  # every failure is the answer here, shown to the operator
        return Probe(False, f"{type(exc).__name__}: {_text(exc)}")
    finally:
        close_quietly(client)


def _text(exc: BaseException) -> str:
    value = str(exc) or repr(exc)
    if value.startswith("b'") or value.startswith('b"'):
        value = value[2:-1]
    return value[:500]


def lock_holders(db: Database, names: Sequence[str]) -> dict[str, str]:
    """On PostgreSQL: which backend holds each mailbox's poller lock (see supervisor)."""
    if not db.is_postgres or not names:
        return {}
    held: dict[str, str] = {}
    with db.engine.connect() as conn:
        for name in names:
            key = advisory_key(name) & 0xFFFFFFFFFFFFFFFF
            row: Any = conn.execute(
                text(
                    "SELECT l.pid, a.client_addr, a.backend_start FROM pg_locks l "
                    "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
                    "AND l.granted AND l.classid::bigint = :hi AND l.objid::bigint = :lo "
                    "AND l.objsubid = 1"
                ),
                {"hi": key >> 32, "lo": key & 0xFFFFFFFF},
            ).first()
            if row is not None:
                held[name] = f"backend pid {row.pid} from {row.client_addr or 'local socket'}"
    return held
