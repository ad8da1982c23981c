"""The built-in classification policy as data: stages in the order they are asked.

The first stage that names a kind decides it; stages without a kind only restrict
(e.g. "do not auto-respond") and are recorded as reasons either way.
"""

from __future__ import annotations

from postdesk.inbound.classify import autoreply, bounce, listmail, loop
from postdesk.inbound.classify.stage import Stage

STAGES: tuple[Stage, ...] = (
    Stage("own-message-id", "our own signed Message-ID came back", loop.own_message_id),
    Stage("rewritten-own", "X-Postdesk-Ticket with our signed id", loop.rewritten_own_message),
    Stage("dsn", "a delivery-status or feedback report", bounce.delivery_report),
    Stage("mail-system-notice", "a bounce notice from a mail system", bounce.mail_system_notice),
    Stage("read-receipt", "a disposition notification", autoreply.read_receipt),
    Stage("auto-submitted", "RFC 3834 Auto-Submitted other than no", autoreply.auto_submitted),
    Stage("vendor-auto-headers", "X-Autoreply and similar", autoreply.vendor_headers),
    Stage("list", "mailing-list headers", listmail.list_headers),
    Stage("precedence", "Precedence: bulk, junk or auto_reply", autoreply.precedence),
    Stage("vacation", "out-of-office subject, with a second signal", autoreply.vacation_notice),
    Stage("suppress-request", "X-Auto-Response-Suppress", autoreply.suppress_request),
)
