"""Classification of inbound mail: normal, auto-reply, bounce, list mail or our own loop.

Pure functions over the parsed message and its raw bytes; ``classify`` runs the stages of
``policy.STAGES`` and records why it decided as it did.
"""

from __future__ import annotations

from collections.abc import Sequence

from postdesk.inbound.classify.facts import Facts
from postdesk.inbound.classify.policy import STAGES
from postdesk.inbound.classify.result import BounceInfo, Classification, FailedRecipient, Kind
from postdesk.inbound.classify.stage import Stage
from postdesk.inbound.message import InboundMessage

__all__ = ["BounceInfo", "Classification", "FailedRecipient", "Kind", "classify", "run_stages"]


def classify(
    msg: InboundMessage, raw: bytes, *, envelope_from: str, keys: Sequence[bytes]
) -> Classification:
    return run_stages(STAGES, Facts(msg, raw, envelope_from, keys))


def run_stages(stages: Sequence[Stage], facts: Facts) -> Classification:
    reasons: list[str] = []
    may_auto_respond = True
    may_open_ticket = True
    for stage in stages:
        try:
            finding = stage.check(facts)
        except Exception as exc:  # a broken stage must not lose the mail; note it and go on
            reasons.append(f"{stage.name}: failed ({type(exc).__name__})")
            continue
        if finding is None:
            continue
        reasons.append(f"{stage.name}: {finding.reason}")
        may_auto_respond = may_auto_respond and finding.may_auto_respond
        if finding.kind is not None:
            return Classification(
                kind=finding.kind,
                reasons=tuple(reasons),
                may_auto_respond=may_auto_respond and finding.may_auto_respond,
                may_open_ticket=finding.may_open_ticket,
                bounce=finding.bounce,
            )
        may_open_ticket = may_open_ticket and finding.may_open_ticket
    return Classification(
        kind="normal",
        reasons=tuple(reasons) or ("no automatic-mail signal",),
        may_auto_respond=may_auto_respond,
        may_open_ticket=may_open_ticket,
    )
