"""Nothing internal and no other client's address ever reaches a client: every captured
message of a two-client scenario with notes, replies to notes and public replies is checked."""

from __future__ import annotations

from sqlalchemy import select

from postdesk.store.models import AuditEntry, Message, Ticket
from tests.gateway.agent_support import ALICE, BOB, PASS, Desk, agent_reply, desk, mail
from tests.support.relay import Captured

__all__ = ["desk"]  # the fixture
T1_CLIENTS = {"ana@client.example", "bea@client.example"}
T2_CLIENTS = {"carl@other.example", "dora@other.example"}
SECRETS = ("SECRET-ONE", "SECRET-TWO", "SECRET-THREE")


def text_of(captured: Captured) -> str:
    msg = captured.message
    headers = "\n".join(f"{k}: {v}" for k, v in msg.items())
    bodies = [p.get_content() for p in msg.walk() if p.get_content_type() == "text/plain"]
    return headers + "\n" + "\n".join(bodies) + "\n" + captured.raw.decode("ascii", "replace")


async def new_ticket(desk: Desk, sender: str, cc: str, subject: str) -> int:
    seen = len(await desk.settle())
    address = sender.rpartition("<")[2].strip(">")
    await desk.send(
        mail(sender, "support@example.com", subject, "Help.", cc=cc),
        ["support@example.com"],
        address,
    )
    assert len(await desk.settle()) == seen + 1  # the ack
    with desk.app.db.sessions() as s:
        ticket = s.scalars(select(Ticket).order_by(Ticket.id.desc())).first()
        assert ticket is not None
        return ticket.id


async def notified(desk: Desk, ticket_id: int, agent: str, kind: str = "new_ticket") -> Captured:
    seen = len(await desk.settle())
    desk.notify(ticket_id, agent, kind)
    [captured] = (await desk.settle())[seen:]
    assert captured.rcpt_tos == [agent]
    return captured


async def answer(desk: Desk, notification: Captured, body: str, sender: str = ALICE, **kw) -> None:  # type: ignore[no-untyped-def]
    raw, target = agent_reply(notification.message, body, sender=sender, **kw)
    await desk.send(raw, [target], sender)


async def test_no_note_and_no_other_client_reaches_a_client(desk: Desk) -> None:
    t1 = await new_ticket(desk, "Ana <ana@client.example>", "Bea <bea@client.example>", "Fire")
    t2 = await new_ticket(desk, "Carl <carl@other.example>", "dora@other.example", "Flood")

    await answer(
        desk, await notified(desk, t1, ALICE), "#assign me\n#note\nSECRET-ONE: Ana is overdue."
    )
    bob_note = await notified(desk, t1, BOB, "note")  # shows the note as the last message
    assert "SECRET-ONE" in bob_note.message.get_body(("plain",)).get_content()
    await answer(desk, bob_note, "Agreed, SECRET-TWO hold the shipments.", sender=BOB)
    # A public reply quoting (">") a notification whose last message is Bob's note.
    await answer(desk, await notified(desk, t1, ALICE, "note"), "#status pending")
    await answer(desk, await notified(desk, t1, ALICE), "PUBLIC-ONE: the technician comes Monday.")
    # The same, quoted Outlook-style (no ">"), which quote cutters may miss.
    outlook = await notified(desk, t1, ALICE)
    plain = outlook.message.get_body(("plain",)).get_content()
    seen = len(await desk.settle())
    raw = mail(
        f"Alice <{ALICE}>",
        outlook.message["Reply-To"],
        "RE: " + outlook.message["Subject"],
        f"PUBLIC-OUTLOOK: see below.\n\nAgreed, SECRET-TWO hold the\nshipments.\n\n{plain}",
        in_reply_to=outlook.message["Message-ID"],
        auth=PASS,
    )
    await desk.send(raw, [outlook.message["Reply-To"]], ALICE)
    [refused] = (await desk.settle())[seen:]
    assert refused.rcpt_tos == [ALICE]
    assert "internal note" in refused.message.get_body(("plain",)).get_content()

    await answer(
        desk,
        await notified(desk, t2, ALICE),
        "PUBLIC-TWO: pumps are on the way.",
        to="support@example.com",
    )
    await answer(desk, await notified(desk, t2, ALICE), "#note\nSECRET-THREE: Carl is a reseller.")
    captured = await desk.settle()

    to_clients = [c for c in captured if set(c.rcpt_tos) & (T1_CLIENTS | T2_CLIENTS)]
    kinds = sorted(c.message["Subject"].split("]")[0] + "|" + c.message["From"] for c in to_clients)
    assert len(to_clients) == 4, kinds  # two acks, one public reply per ticket
    for c in to_clients:
        text = text_of(c).lower()
        for secret in SECRETS:
            assert secret.lower() not in text, (secret, c.rcpt_tos)
        assert ALICE not in text and BOB not in text and "staff.example" not in text
        mine, others = (
            (T1_CLIENTS, T2_CLIENTS) if T1_CLIENTS & set(c.rcpt_tos) else (T2_CLIENTS, T1_CLIENTS)
        )
        assert not set(c.rcpt_tos) - mine, text
        for address in others:
            assert address not in text
    replies = [c for c in to_clients if "PUBLIC" in text_of(c)]
    assert sorted(tuple(sorted(c.rcpt_tos)) for c in replies) == [
        tuple(sorted(T1_CLIENTS)),
        tuple(sorted(T2_CLIENTS)),
    ]
    assert "PUBLIC-OUTLOOK" not in "".join(text_of(c) for c in to_clients)
    with desk.app.db.sessions() as s:
        ticket = s.get(Ticket, t1)
        assert ticket is not None and ticket.status == "pending"
        internal = [
            m.text_new for m in s.scalars(select(Message).where(Message.visibility == "internal"))
        ]
        assert [[x for x in SECRETS if x in t] for t in internal] == [[x] for x in SECRETS]
        assert s.scalar(select(AuditEntry).where(AuditEntry.action == "agent_command_refused"))
