"""IMAP mailboxes as an inbound source: one synchronous worker thread per mailbox.

Each worker fetches new UIDs with ``BODY.PEEK[]``, hands every message to the durable
``receive`` and only then flags, moves or deletes it on the server and advances its cursor.
"""

from postdesk.inbound.imap.config import MailboxConfig, load_mailboxes
from postdesk.inbound.imap.state import mailbox_statuses
from postdesk.inbound.imap.supervisor import MailboxSupervisor
from postdesk.inbound.imap.worker import MailboxWorker, SyncCounts

__all__ = [
    "MailboxConfig",
    "MailboxSupervisor",
    "MailboxWorker",
    "SyncCounts",
    "load_mailboxes",
    "mailbox_statuses",
]
