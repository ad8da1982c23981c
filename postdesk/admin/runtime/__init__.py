"""Runtime configuration pages of the admin (support addresses, SMTP and relay, IMAP
mailboxes, teams and escalation, API tokens) and the ticket page's Escalate button."""

from fastapi import APIRouter

from postdesk.admin.runtime import addresses, escalate, mailboxes, relay, teams, tokens

router = APIRouter()
for _module in (addresses, relay, mailboxes, teams, tokens, escalate):
    router.include_router(_module.router)
