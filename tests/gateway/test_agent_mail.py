"""Agents answer from their own mail client: public replies, notes, commands, forged senders."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from postdesk.gateway.settings import Settings
from postdesk.store.models import (
    AuditEntry,
    InboxItem,
    Message,
    Notification,
    OutboxItem,
    Participant,
    Ticket,
)
from tests.gateway.agent_support import (
    ALICE,
    AUTHSERV,
    BOB,
    PASS,
    Desk,
    agent_reply,
    desk,
    mail,
    running_desk,
)
from tests.support.relay import Captured

__all__ = ["desk"]  # the fixture
CLIENT = "ana@client.example"


async def open_ticket(
    desk: Desk, sender: str = f"Ana <{CLIENT}>", cc: str | None = None
) -> tuple[int, str, int]:
    """A client's new mail and its ack; returns the ticket id, the client's Message-ID and
    the number of captured messages so far."""
    before = len(desk.relay.messages)
    raw = mail(sender, "support@example.com", "Printer on fire", "It is on fire.", cc=cc)
    await desk.send(raw, ["support@example.com"], sender.rpartition("<")[2].strip(">"))
    await desk.wait_total(before + 1)
    with desk.app.db.sessions() as s:
        ticket = s.scalars(select(Ticket).order_by(Ticket.id.desc())).first()
        assert ticket is not None
        first = s.scalars(select(Message).where(Message.ticket_id == ticket.id)).first()
        assert first is not None
        return ticket.id, first.message_id, before + 1


async def notification_for(desk: Desk, ticket_id: int, seen: int, agent: str = ALICE) -> Captured:
    desk.notify(ticket_id, agent)
    captured = (await desk.wait_total(seen + 1))[seen]
    assert captured.rcpt_tos == [agent]
    return captured


def to_client(captured: list[Captured], client: str = CLIENT) -> list[Captured]:
    return [c for c in captured if client in c.rcpt_tos]


def client_outbox(desk: Desk, client: str = CLIENT) -> list[str]:
    """Kinds of every outgoing mail (sent or not yet) addressed to the client."""
    with desk.app.db.sessions() as s:
        return [
            o.kind
            for o in s.scalars(select(OutboxItem).order_by(OutboxItem.id))
            if client in o.recipients
        ]


@pytest.mark.parametrize("variant", ["agent-address", "in-reply-to-only"])
async def test_agent_reply_reaches_client_from_support_address(desk: Desk, variant: str) -> None:
    ticket_id, client_mid, seen = await open_ticket(desk)
    note = await notification_for(desk, ticket_id, seen)
    seen += 1
    to = None if variant == "agent-address" else "support@example.com"
    raw, target = agent_reply(
        note.message,
        "Hello Ana, we are sending a technician.",
        to=to,
        attachment=("plan.pdf", b"%PDF-1.4 plan"),
    )
    await desk.send(raw, [target], ALICE)
    [reply] = (await desk.wait_total(seen + 1))[seen:]
    msg = reply.message
    assert reply.rcpt_tos == [CLIENT]
    assert msg["From"] == "Alice at Example Support <support@example.com>"
    assert msg["In-Reply-To"] == f"<{client_mid}>"
    refs = msg["References"].split()
    assert f"<{client_mid}>" in refs
    assert note.message["Message-ID"] not in refs  # not the agent's internal thread
    assert ALICE.encode() not in reply.raw and b"alice@" not in reply.raw.lower()
    assert "Auto-Submitted" not in msg
    body = msg.get_body(("plain",)).get_content()
    assert "we are sending a technician" in body
    assert "something happened" not in body  # the quoted notification is cut
    [pdf] = [p for p in msg.iter_attachments() if p.get_filename() == "plan.pdf"]
    assert pdf.get_content() == b"%PDF-1.4 plan"
    with desk.app.db.sessions() as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None and ticket.status == "new"  # kept unless #status says so
        assert ticket.first_response_at is not None
        out = s.scalar(select(Message).where(Message.kind == "agent_reply"))
        assert out is not None and out.author_agent_id is not None
        assert out.visibility == "public" and out.direction == "out"
        assert [a.filename for a in out.attachments] == ["plan.pdf"]
        participants = set(s.scalars(select(Participant.email)))
        assert participants == {CLIENT}


async def test_note_reaches_no_client_and_tells_other_staff(desk: Desk) -> None:
    ticket_id, _, seen = await open_ticket(desk)
    raw, target = agent_reply(
        (await notification_for(desk, ticket_id, seen)).message,
        "#assign bob@staff.example\n#note\nVIP client, call them first.",
    )
    seen += 1
    await desk.send(raw, [target], ALICE)
    [told] = (await desk.wait_total(seen + 1))[seen:]
    assert told.rcpt_tos == [BOB]  # the new assignee hears about the note; the client does not
    assert "VIP client" in told.message.get_body(("plain",)).get_content()
    # Bob answers the note notification: his answer stays internal as well.
    raw, target = agent_reply(told.message, "Called them, all fine.", sender=f"Bob <{BOB}>")
    await desk.send(raw, [target], BOB)
    [back] = (await desk.wait_total(seen + 2))[seen + 1 :]
    assert back.rcpt_tos == [ALICE]
    assert to_client(desk.relay.messages[1:]) == [] and client_outbox(desk) == ["ack"]
    with desk.app.db.sessions() as s:
        notes = list(s.scalars(select(Message).where(Message.visibility == "internal")))
        assert [n.text_new for n in notes] == [
            "VIP client, call them first.",
            "Called them, all fine.",
        ]
        assert all(n.author_agent_id is not None for n in notes)


COMMANDS = [
    ("#status on-hold", "status", "new", "on-hold"),
    ("#priority P1", "priority", "P3", "P1"),
    ("#assign me", "assignee", None, ALICE),
    ("#assign Bob", "assignee", None, BOB),
    ("#type question", "type", "support", "question"),
]


@pytest.mark.parametrize(("line", "field", "old", "new"), COMMANDS, ids=[c[0] for c in COMMANDS])
async def test_each_command_changes_the_ticket_with_an_audit_entry(
    desk: Desk, line: str, field: str, old: str | None, new: str
) -> None:
    ticket_id, _, seen = await open_ticket(desk)
    raw, target = agent_reply((await notification_for(desk, ticket_id, seen)).message, line)
    await desk.send(raw, [target], ALICE)
    with desk.app.db.sessions() as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None
        value = (
            ticket.assignee.email
            if field == "assignee" and ticket.assignee
            else getattr(ticket, field, None)
        )
        assert value == new
        entry = s.scalar(select(AuditEntry).where(AuditEntry.field == field))
        assert entry is not None and entry.actor == ALICE
        assert (entry.old_value, entry.new_value) == (old, new)
    assert client_outbox(desk) == ["ack"]  # a command-only mail sends nothing


async def test_escalate_records_and_tells_the_managers(settings: Settings) -> None:
    async with running_desk(settings, rules_file=None) as desk:  # the built-in policy
        ticket_id, _, _ = await open_ticket(desk)
        await desk.wait_total(2)  # the ack and the managers' new-ticket notice
        desk.notify(ticket_id, ALICE)
        [notice] = [c for c in await desk.wait_total(3) if c.rcpt_tos == [ALICE]]
        raw, target = agent_reply(notice.message, "#escalate client threatens to cancel")
        await desk.send(raw, [target], ALICE)
        told = (await desk.wait_total(4))[3]
        assert told.rcpt_tos == [BOB]
        assert "escalated" in told.message.get_body(("plain",)).get_content().lower()
        with desk.app.db.sessions() as s:
            ticket = s.get(Ticket, ticket_id)
            assert ticket is not None and ticket.escalation_level == 1
            level = s.scalar(select(AuditEntry).where(AuditEntry.action == "escalation_level"))
            assert level is not None and level.actor == ALICE and level.ticket_id == ticket_id
            internal = s.scalar(select(Ticket).where(Ticket.linked_ticket_id == ticket_id))
            assert internal is not None and internal.type == "escalation"
            entry = s.scalar(
                select(AuditEntry).where(
                    AuditEntry.action == "escalated", AuditEntry.ticket_id == internal.id
                )
            )
            assert entry is not None and "cancel" in (entry.detail or "")


async def test_unknown_command_gets_an_error_mail_and_changes_nothing(desk: Desk) -> None:
    ticket_id, _, seen = await open_ticket(desk)
    raw, target = agent_reply(
        (await notification_for(desk, ticket_id, seen)).message,
        "#priority P1\n#stauts resolved\nAll done, Ana!",
    )
    seen += 1
    await desk.send(raw, [target], ALICE)
    [error] = (await desk.wait_total(seen + 1))[seen:]
    assert error.rcpt_tos == [ALICE]
    text = error.message.get_body(("plain",)).get_content()
    assert "#stauts resolved" in text and "unknown command" in text and "#status pending" in text
    assert client_outbox(desk) == ["ack"]
    with desk.app.db.sessions() as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None and (ticket.status, ticket.priority) == ("new", "P3")
        assert s.scalar(select(AuditEntry).where(AuditEntry.field.is_not(None))) is None
        assert s.scalar(select(Message).where(Message.author_agent_id.is_not(None))) is None


@pytest.mark.parametrize(
    "auth",
    [
        None,
        "mx.evil.example; dkim=pass header.d=staff.example",
        f"{AUTHSERV}; dkim=fail header.d=staff.example",
    ],
    ids=["no-header", "wrong-authserv-id", "dkim-fail"],
)
async def test_forged_agent_from_is_an_outside_sender(desk: Desk, auth: str | None) -> None:
    ticket_id, _, seen = await open_ticket(desk)
    raw, target = agent_reply(
        (await notification_for(desk, ticket_id, seen)).message,
        "#status closed\n#assign me\nPlease send your password.",
        auth=auth,
    )
    seen += 1
    await desk.send(raw, [target], ALICE)
    with desk.app.db.sessions() as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None and ticket.status == "new" and ticket.assignee is None
        stored = s.scalars(select(Message).order_by(Message.id.desc())).first()
        assert stored is not None and stored.direction == "in" and stored.visibility == "public"
        assert stored.author_agent_id is None and "#status closed" in stored.text_new
        warning = s.scalar(select(AuditEntry).where(AuditEntry.action == "sender_unverified"))
        assert warning is not None
        kinds = {(n.kind, n.agent_id) for n in s.scalars(select(Notification))}
        assert {k for k, _ in kinds} >= {"forged_sender"}
    warned = await desk.wait_total(seen + 2)  # Alice and Bob are warned by mail
    assert sorted(c.rcpt_tos[0] for c in warned[seen:]) == [ALICE, BOB]
    assert client_outbox(desk) == ["ack"]
    with desk.app.db.sessions() as s:
        assert set(s.scalars(select(Participant.email))) == {CLIENT}


async def test_client_mail_to_the_note_address_is_public(desk: Desk) -> None:
    from postdesk.threading.tokens import reply_address

    ticket_id, _, _ = await open_ticket(desk)
    with desk.app.db.transaction() as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None
        ticket.status = "pending"
    note_addr = reply_address("support@example.com", ticket_id, desk.app.pipeline.keys[0], "note")
    await desk.send(
        mail(f"Ana <{CLIENT}>", note_addr, "more", "Here is more."), [note_addr], CLIENT
    )
    with desk.app.db.sessions() as s:
        stored = s.scalars(select(Message).order_by(Message.id.desc())).first()
        assert (
            stored is not None and stored.visibility == "public" and stored.ticket_id == ticket_id
        )
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None and ticket.status == "open"  # the client answered


async def test_an_agent_opening_a_ticket_gets_no_ack(desk: Desk) -> None:
    raw = mail(f"Alice <{ALICE}>", "support@example.com", "Call notes", "Ana called.", auth=PASS)
    await desk.send(raw, ["support@example.com"], ALICE)
    assert desk.count(Ticket) == 1
    assert desk.count(OutboxItem) == 0


async def test_an_agents_auto_reply_stays_internal(desk: Desk) -> None:
    ticket_id, _, seen = await open_ticket(desk)
    note = (await notification_for(desk, ticket_id, seen)).message
    raw = mail(
        f"Alice <{ALICE}>",
        note["Reply-To"],
        "Out of office: " + note["Subject"],
        "#status closed\nI am away until Monday.",
        in_reply_to=note["Message-ID"],
        auth=PASS,
        headers={"Auto-Submitted": "auto-replied"},
    )
    await desk.send(raw, [note["Reply-To"]], ALICE)
    with desk.app.db.sessions() as s:
        stored = s.scalars(select(Message).order_by(Message.id.desc())).first()
        assert stored is not None and stored.visibility == "internal"
        assert stored.kind != "normal"
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None and ticket.status == "new"
    assert client_outbox(desk) == ["ack"]


@pytest.mark.parametrize(
    ("trusted", "auth", "public"),
    [(True, None, True), (False, PASS, False)],
    ids=["trusted-relay-counts", "header-alone-does-not"],
)
async def test_smtp_auth_mode(
    settings: Settings, trusted: bool, auth: str | None, public: bool
) -> None:  # type: ignore[no-untyped-def]
    networks = ["127.0.0.1/32"] if trusted else []
    async with running_desk(
        settings, agent_verification="smtp-auth", smtp_trusted_networks=networks
    ) as desk:
        ticket_id, _, seen = await open_ticket(desk)
        raw, target = agent_reply(
            (await notification_for(desk, ticket_id, seen)).message, "Fixed it.", auth=auth
        )
        await desk.send(raw, [target], ALICE)
        await desk.settle()
        assert client_outbox(desk) == (["ack", "agent_reply"] if public else ["ack"])
        assert desk.count(AuditEntry, AuditEntry.action == "sender_unverified") == (
            0 if public else 1
        )


async def test_agent_reply_all_to_the_client_is_recorded_not_sent_twice(desk: Desk) -> None:
    ticket_id, client_mid, _ = await open_ticket(desk)
    # Ana had copied Alice directly; Alice answers all from her own client.
    raw = mail(
        f"Alice <{ALICE}>",
        f"Ana <{CLIENT}>",
        "Re: Printer on fire",
        "On my way.",
        cc="support@example.com",
        in_reply_to=f"<{client_mid}>",
        auth=PASS,
    )
    await desk.send(raw, ["support@example.com"], ALICE)
    await desk.settle()
    assert client_outbox(desk) == ["ack"]
    with desk.app.db.sessions() as s:
        stored = s.scalar(select(Message).where(Message.kind == "agent_direct"))
        assert stored is not None and stored.visibility == "public" and stored.author_agent_id
        assert stored.ticket_id == ticket_id
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None and ticket.first_response_at is not None
        assert set(s.scalars(select(Participant.email))) == {CLIENT}


async def test_a_command_refused_while_applying_undoes_the_others(desk: Desk) -> None:
    """#escalate after #status closed is refused only when applied: the savepoint undoes the
    status change, the agent is told, the client gets nothing and the message is processed."""
    ticket_id, _, seen = await open_ticket(desk)
    raw, target = agent_reply(
        (await notification_for(desk, ticket_id, seen)).message,
        "#status closed\n#escalate\nClosing this.",
    )
    seen += 1
    await desk.send(raw, [target], ALICE)
    [error] = (await desk.wait_total(seen + 1))[seen:]
    assert error.rcpt_tos == [ALICE]
    assert "closed ticket cannot be escalated" in error.message.get_body(("plain",)).get_content()
    assert client_outbox(desk) == ["ack"]
    with desk.app.db.sessions() as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None and ticket.status == "new" and ticket.escalation_level == 0
        assert s.scalar(select(AuditEntry).where(AuditEntry.field == "status")) is None
        assert s.scalar(select(InboxItem).where(InboxItem.state == "failed")) is None
