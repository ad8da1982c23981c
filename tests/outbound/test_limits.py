"""The loop-defence decisions as pure functions: counts and times in, a reason out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from postdesk.gateway.bounces import candidate_ids, judge
from postdesk.inbound.classify import BounceInfo, FailedRecipient
from postdesk.inbound.message import InboundMessage
from postdesk.outbound.limits import (
    AutoReplyLimits,
    auto_reply_refusal,
    inbound_rate_refusal,
    suppression_until,
)

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LIMITS = AutoReplyLimits(min_interval=timedelta(minutes=10), max_per_day=3)


@pytest.mark.parametrize(
    ("earlier", "per_hour", "refused"),
    [(0, 20, False), (19, 20, False), (20, 20, True), (50, 20, True), (500, 0, False)],
)
def test_inbound_rate(earlier: int, per_hour: int, refused: bool) -> None:
    reason = inbound_rate_refusal(earlier, per_hour)
    assert (reason is not None) == refused
    if refused:
        assert f"{earlier + 1} messages" in (reason or "")


def test_first_automatic_message_is_allowed() -> None:
    assert auto_reply_refusal(None, 0, NOW, LIMITS) is None


def test_interval_between_automatic_messages() -> None:
    assert auto_reply_refusal(NOW - timedelta(minutes=9), 1, NOW, LIMITS) is not None
    assert auto_reply_refusal(NOW - timedelta(minutes=10), 1, NOW, LIMITS) is None


def test_daily_cap_wins_over_an_old_last_message() -> None:
    reason = auto_reply_refusal(NOW - timedelta(hours=5), 3, NOW, LIMITS)
    assert reason is not None and "cap 3" in reason
    assert auto_reply_refusal(NOW - timedelta(hours=5), 2, NOW, LIMITS) is None


def test_zero_disables_the_limits() -> None:
    off = AutoReplyLimits(min_interval=timedelta(0), max_per_day=0)
    assert auto_reply_refusal(NOW, 1000, NOW, off) is None


def test_suppression_never_ends_before_now() -> None:
    assert suppression_until(NOW, 7) == NOW + timedelta(days=7)
    assert suppression_until(NOW, -1) == NOW


def test_hard_bounce_suppresses_our_recipient() -> None:
    verdict = judge([FailedRecipient("ana@x.example", "5.1.1", True)], ["Ana@x.example"])
    assert verdict.permanent and verdict.suppress == ("ana@x.example",)
    assert "5.1.1" in verdict.summary


def test_delay_notice_fails_nothing() -> None:
    verdict = judge([FailedRecipient("ana@x.example", "4.4.1", False)], ["ana@x.example"])
    assert not verdict.permanent and verdict.suppress == ()


def test_forwarded_address_bounce_is_charged_to_our_only_recipient() -> None:
    verdict = judge([FailedRecipient("old@mailbox.example", "5.1.1", True)], ["alias@x.example"])
    assert verdict.suppress == ("alias@x.example",)
    two = judge([FailedRecipient("old@mailbox.example", "5.1.1", True)], ["a@x.example", "b@x"])
    assert two.permanent and two.suppress == ()


def test_notice_without_recipients_fails_the_row_but_suppresses_nobody() -> None:
    verdict = judge([], ["ana@x.example"])
    assert verdict.permanent and verdict.suppress == ()


def test_candidate_ids_prefer_the_returned_message() -> None:
    msg = InboundMessage(
        message_id="dsn@mx",
        in_reply_to=("<Parent@Example.com>",),
        references=("a@x", "b@x"),
        from_addr=None,
        to=(),
        cc=(),
        reply_to=(),
        subject="",
        date=None,
        text="",
        text_new="",
        html=None,
        attachments=(),
        headers=(),
        raw_sha256="",
        size=0,
    )
    info = BounceInfo((), "ours@example.com")
    assert candidate_ids(info, msg) == ["ours@example.com", "parent@example.com", "b@x", "a@x"]
    assert candidate_ids(None, msg)[0] == "parent@example.com"
