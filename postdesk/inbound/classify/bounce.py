"""Bounces: a DSN (multipart/report), or a mail system's notice sent with a null sender.

Checked before auto-replies because many bounces also carry ``Auto-Submitted: auto-replied``.
Feedback reports (ARF complaints) are delivery reports about our mail too: same handling.
"""

from __future__ import annotations

import re

from postdesk.inbound.classify import bounce_text, dsn
from postdesk.inbound.classify.facts import Facts
from postdesk.inbound.classify.result import BounceInfo
from postdesk.inbound.classify.stage import Finding

_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (?:status )?notification|returned mail|failure notice|"
    r"delivery fail|mail delivery|non[- ]?delivery|could not be delivered|not delivered|"
    r"delivery (?:has )?failed|failed delivery|delivery problem|delayed mail|mail system error|"
    r"error sending|returned to sender|rejected|nondeliverable|unzustellbar|nicht zustellbar|"
    r"non remis|non recapitabile|no entregado|onbestelbaar|olevererbart|niedostarczon|"
    r"delivery report|delivery failure|permanent (?:delivery )?failure|bounce",
    re.I,
)
_BODY = re.compile(
    r"could not be delivered|couldn't be delivered|was not delivered|wasn't delivered|"
    r"delivery (?:to the following )?(?:recipients? )?(?:has )?failed|"
    r"permanent(?:ly)? (?:error|fatal)|"
    r"user unknown|unknown user|no such user|mailbox (?:is )?(?:unavailable|full|not found)|"
    r"address (?:couldn't|could not) be found|does not exist|qmail-send|undeliverable|"
    r"returned to the sender|recipient address rejected|message delivery has failed|"
    r"unable to deliver|delivery has been delayed|not yet been delivered|temporary failure|"
    r"host unknown|relay access denied|mail delivery (?:system|subsystem|failed)",
    re.I,
)


_OUR_SIDE_HEADERS = (
    "Errors-To",
    "Sender",
    "Return-Path",
    "List-Post",
    "List-Id",
    "X-BeenThere",
)
_ADDR = re.compile(r"[\w.+\-=']+@[\w\-]+(?:\.[\w\-]+)+")


def _report_type(facts: Facts) -> str:
    ctype = facts.header("Content-Type").lower()
    if not ctype.startswith("multipart/report"):
        return ""
    m = re.search(r"report-type\s*=\s*\"?([a-z0-9\-/]+)", ctype)
    return m.group(1) if m else "unknown"


def _excluded(facts: Facts) -> set[str]:
    msg = facts.msg
    own = [a.email for a in (*msg.to, *msg.cc, *msg.reply_to)]
    if msg.from_addr is not None:
        own.append(msg.from_addr.email)
    own.append(facts.envelope_from.strip().strip("<>").lower())
    # The bounce's own return addresses and the list it came through are not failures
    # (Delivered-To is left out: in the corpus it often names the failed address).
    for name in _OUR_SIDE_HEADERS:
        for value in facts.msg.header_all(name):
            own.extend(a.lower() for a in _ADDR.findall(value))
    return {a for a in own if a}


def _info(facts: Facts, report_type: str) -> BounceInfo:
    mime = facts.mime
    recipients = dsn.recipients(mime) if report_type != "feedback-report" else []
    text = bounce_text.notice_text(mime)
    if not recipients and report_type != "feedback-report":
        recipients = bounce_text.text_recipients(
            text, _excluded(facts), facts.msg.header_all("X-Failed-Recipients")
        )
    original = (
        dsn.returned_message_id(mime)
        or bounce_text.message_id_in_text(text)
        or next(iter(facts.msg.in_reply_to), None)
    )
    return BounceInfo(tuple(recipients), original, report_type or "text")


def _finding(reason: str, facts: Facts, report_type: str) -> Finding:
    return Finding(
        reason,
        kind="bounce",
        may_auto_respond=False,
        may_open_ticket=False,
        bounce=_info(facts, report_type),
    )


def delivery_report(facts: Facts) -> Finding | None:
    report_type = _report_type(facts)
    if report_type in ("delivery-status", "feedback-report"):
        return _finding(f"multipart/report; report-type={report_type}", facts, report_type)
    return None


def mail_system_notice(facts: Facts) -> Finding | None:
    """A notice from a mail system (null sender or daemon From) that reads like a bounce."""
    failed_header = facts.header("X-Failed-Recipients")
    if failed_header:
        return _finding(f"X-Failed-Recipients: {failed_header[:80]}", facts, "")
    if not (facts.null_sender or facts.daemon_sender):
        return None
    who = "null sender" if facts.null_sender else "mail-system sender"
    if _SUBJECT.search(facts.msg.subject):
        return _finding(f"{who} and a bounce subject", facts, "")
    if _BODY.search(facts.msg.text[:20000]):
        return _finding(f"{who} and a bounce notice in the body", facts, "")
    if _report_type(facts):  # a report of another type from a mail system
        return _finding(f"{who} and multipart/report", facts, "")
    return None
