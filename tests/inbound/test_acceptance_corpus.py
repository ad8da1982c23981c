"""Every message of our own corpus (tests/corpus) through the whole ingest path.

Each scenario (``NAME-NN.eml`` alone, or ``NAME-NNa.eml``, ``NAME-NNb.eml``, ... in order)
is accepted by ``App.accept`` — durable receive, parse, classify, thread, store, rules — on a
fresh database, and every message is checked against ``tests/corpus/expected.json``: its
class, its thread outcome and the text a person sees. Unlike ../shared/corpus this runs in CI.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from postdesk.gateway.app import App
from postdesk.gateway.receive import quick_headers
from postdesk.inbound.message import Envelope
from postdesk.store.enums import InboxState
from postdesk.store.models import Attachment, InboxItem, Message, OutboxItem
from postdesk.store.suppression_models import Suppression

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
EXPECTED: dict[str, dict[str, Any]] = json.loads((CORPUS / "expected.json").read_text())
_SCENARIO = re.compile(r"^(.*-\d+)[a-z]$")
_ACK_OF = re.compile(rb"@@ACK_OF:([\w.-]+)@@")


def _scenarios() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for name in sorted(EXPECTED):
        stem = name.removesuffix(".eml")
        m = _SCENARIO.match(stem)
        groups[m.group(1) if m else stem].append(stem)
    return dict(groups)


SCENARIOS = _scenarios()


def test_corpus_is_complete_and_consistent() -> None:
    files = {p.name for p in CORPUS.glob("*.eml")}
    assert len(files) >= 150
    assert files == set(EXPECTED), files ^ set(EXPECTED)
    for name, exp in EXPECTED.items():
        assert exp["class"] in {"normal", "auto_reply", "bounce", "list", "loop"}, name
        thread = exp["thread"]
        assert thread in ("new", "dropped") or thread.startswith("attach:"), name
        if thread.startswith("attach:"):
            target = thread.split(":", 1)[1]
            assert f"{target}.eml" in EXPECTED and target < name, (name, target)
        if thread == "dropped":
            assert not exp.get("text_has") and not exp.get("attachments"), name


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenario(app: App, scenario: str) -> None:
    tickets: dict[str, int] = {}
    problems: list[str] = []
    for stem in SCENARIOS[scenario]:
        exp = EXPECTED[f"{stem}.eml"]
        raw = _fill_placeholders(app, (CORPUS / f"{stem}.eml").read_bytes(), tickets)
        sender = quick_headers(raw, "0" * 64).sender
        envelope = Envelope(
            mail_from=exp.get("envelope_from", sender),
            rcpt_to=("support@example.com",),
            source="ingest",
        )
        accepted = app.accept(raw, envelope)
        problems += [f"{stem}: {p}" for p in _check(app, accepted.received.inbox_id, exp, tickets)]
        with app.db.sessions() as s:
            row = s.get(InboxItem, accepted.received.inbox_id)
            if row is not None and row.ticket_id is not None:
                tickets[stem] = row.ticket_id
    assert not problems, "\n".join(problems)


def _fill_placeholders(app: App, raw: bytes, tickets: dict[str, int]) -> bytes:
    """``@@ACK_OF:stem@@``: the Message-ID of our acknowledgement on that message's ticket."""

    def ack_id(m: re.Match[bytes]) -> bytes:
        ticket = tickets[m.group(1).decode()]
        with app.db.sessions() as s:
            mid = s.scalar(
                select(OutboxItem.message_id)
                .where(OutboxItem.ticket_id == ticket)
                .order_by(OutboxItem.id)
            )
        assert mid, f"no outgoing mail on ticket {ticket} to bounce"
        return mid.strip("<>").encode()

    return _ACK_OF.sub(ack_id, raw)


def _check(app: App, inbox_id: int, exp: dict[str, Any], tickets: dict[str, int]) -> list[str]:
    out: list[str] = []
    with app.db.sessions() as s:
        row = s.get(InboxItem, inbox_id)
        assert row is not None
        if row.state != InboxState.PROCESSED:
            return [f"state {row.state}: {row.error}"]
        if row.classification != exp["class"]:
            out.append(f"class {row.classification}, expected {exp['class']}")
        thread = exp["thread"]
        if thread == "dropped":
            if row.ticket_id is not None:
                out.append(f"on ticket {row.ticket_id}, expected dropped")
            return out
        if row.ticket_id is None:
            return [*out, f"dropped ({row.error}), expected {thread}"]
        if thread == "new" and row.ticket_id in tickets.values():
            out.append(f"joined ticket {row.ticket_id}, expected a new one")
        if thread.startswith("attach:"):
            want = tickets.get(thread.split(":", 1)[1])
            if row.ticket_id != want:
                out.append(f"on ticket {row.ticket_id}, expected {want} ({thread})")
        msg = s.scalar(select(Message).where(Message.inbox_id == row.id))
        if msg is None:
            return [*out, "processed onto a ticket but no message stored"]
        out += _check_message(s, msg, exp)
        out += _check_bounce(s, msg.ticket_id, exp)
    return out


def _check_message(s, msg: Message, exp: dict[str, Any]) -> list[str]:  # type: ignore[no-untyped-def]
    out = []
    text = msg.text_new or ""
    for part in exp.get("text_has", []):
        if part not in text:
            out.append(f"text_new lacks {part!r}: {text[:300]!r}")
    for part in exp.get("text_lacks", []):
        if part in text:
            out.append(f"text_new shows {part!r}: {text[:300]!r}")
    for ch in exp.get("text_lacks_chars", []):
        if ch in text or ch in (msg.text_full or ""):
            out.append(f"stored text holds {ch!r}")
    if "subject_has" in exp and exp["subject_has"] not in msg.subject:
        out.append(f"subject {msg.subject[:100]!r} lacks {exp['subject_has']!r}")
    if "attachments" in exp:
        names = sorted(
            s.scalars(select(Attachment.filename).where(Attachment.message_id == msg.id))
        )
        if names != sorted(exp["attachments"]):
            out.append(f"attachments {names}, expected {sorted(exp['attachments'])}")
    return out


def _check_bounce(s, ticket_id: int, exp: dict[str, Any]) -> list[str]:  # type: ignore[no-untyped-def]
    out = []
    if "suppressed" in exp:
        got = sorted(s.scalars(select(Suppression.email)))
        if got != sorted(exp["suppressed"]):
            out.append(f"suppressed {got}, expected {exp['suppressed']}")
    if "outbox_failed" in exp:
        states = list(s.scalars(select(OutboxItem.state).where(OutboxItem.ticket_id == ticket_id)))
        failed = "failed" in states
        if failed != exp["outbox_failed"]:
            out.append(f"outbox states {states}, expected failed={exp['outbox_failed']}")
    return out
