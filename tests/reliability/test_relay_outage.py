"""The relay is down for an hour (a controllable clock, no sleeping): nothing is lost, nothing
is sent twice, and each ticket's mail goes out in the order it was queued.

Real SMTP throughout: the outbox worker talks to a capturing relay on loopback, which is
stopped (connections refused) and later started again on the same port. Mail is queued at
several moments of the outage, so the rows of one ticket back off on different schedules.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta

from sqlalchemy import select

from postdesk.clock import FakeClock
from postdesk.gateway.app import App
from postdesk.gateway.settings import Settings
from postdesk.inbound.message import Envelope
from postdesk.outbound.compose import OutgoingMail
from postdesk.outbound.outbox import enqueue
from postdesk.outbound.transport import RelayConfig, RelayTransport
from postdesk.outbound.worker import OutboxWorker, next_attempt
from postdesk.store.enums import OutboxState
from postdesk.store.models import OutboxItem
from tests.support.mail import client_mail
from tests.support.relay import CapturingRelay

TICKETS = 4
FOLLOW_UPS_AT = (10, 20, 40)  # minutes into the outage: one more mail per ticket each time
OUTAGE_MINUTES = 60
BACKOFF_SECONDS = 30.0


def follow_up(ticket_id: int, client: str, seq: int) -> OutgoingMail:
    return OutgoingMail(
        kind="reply",
        ticket_id=ticket_id,
        from_address="support@example.com",
        from_name="Support",
        to=(client,),
        subject=f"[#{ticket_id}] update {seq}",
        text=f"Update {seq} on your request.",
        message_id=f"update-{ticket_id}-{seq}@example.com",
        automatic=False,
        extra_headers=(("X-Seq", str(seq)),),
    )


async def test_an_hour_of_relay_outage_delivers_everything_once_in_order(
    settings: Settings,
) -> None:
    clock = FakeClock()
    app = App(settings, clock=clock)
    relay = await CapturingRelay().start()
    port = relay.port
    await relay.stop()  # the relay is down from the start: connections are refused
    worker = OutboxWorker(
        app.db,
        RelayTransport(RelayConfig.from_url(f"smtp://127.0.0.1:{port}")),
        clock=clock,
        backoff_seconds=BACKOFF_SECONDS,
        max_attempts=12,
    )
    start = clock()
    try:
        clients = {}
        for i in range(TICKETS):
            client = f"client{i}@client.example"
            raw = client_mail(client, "support@example.com", f"Outage {i}", "Hello.")
            accepted = app.accept(raw, Envelope(client, ("support@example.com",), "smtp"))
            assert accepted.processed is not None and accepted.processed.ticket_id is not None
            clients[accepted.processed.ticket_id] = client
        tries = 0
        for minute in range(OUTAGE_MINUTES + 1):
            if minute in FOLLOW_UPS_AT:
                with app.db.transaction() as session:
                    for ticket_id, client in clients.items():
                        seq = FOLLOW_UPS_AT.index(minute) + 1
                        enqueue(session, follow_up(ticket_id, client, seq), clock())
            while attempted := await worker.run_once():
                tries += attempted
            clock.advance(minutes=1)
        rows = _outbox(app)
        # Still all pending, backing off; none given up, none marked sent.
        assert {r.state for r in rows} == {OutboxState.PENDING}
        acks = [r for r in rows if r.kind == "ack"]
        # Each ack was tried on the backoff schedule (0, +30 s, +60 s, +120 s ...); later mail
        # of the same ticket waited behind it and was not tried at all.
        assert {r.attempts for r in acks} == {_attempts_within(OUTAGE_MINUTES)}
        assert {r.attempts for r in rows if r.kind != "ack"} == {0}
        assert tries == TICKETS * _attempts_within(OUTAGE_MINUTES)

        relay = await CapturingRelay(port=port).start()  # back, on the same port
        back_at = clock()
        while _pending(app):
            while await worker.run_once():
                pass
            if _pending(app):
                clock.advance(minutes=1)
            assert clock() - back_at <= timedelta(hours=6), "never delivered"
        waited = clock() - back_at
    finally:
        await relay.stop()
        app.close()

    # Delivered once the ack's next backoff ran out, at most one backoff interval after the
    # relay came back.
    last_delay = next_attempt(start, _attempts_within(OUTAGE_MINUTES), BACKOFF_SECONDS) - start
    assert waited <= last_delay
    ids = Counter(str(c.message["Message-ID"]).strip("<>") for c in relay.messages)
    expected = {r.message_id for r in _outbox(app)}
    assert set(ids) == expected and set(ids.values()) == {1}, ids
    order: dict[str, list[int]] = defaultdict(list)
    for captured in relay.messages:
        order[captured.rcpt_tos[0]].append(int(captured.message["X-Seq"] or 0))
    assert order == {c: [0, 1, 2, 3] for c in clients.values()}
    assert {r.state for r in _outbox(app)} == {OutboxState.SENT}


def _attempts_within(minutes: int) -> int:
    """Tries of a row first tried at 0 and failing every time, within ``minutes``."""
    t, tries = 0.0, 0
    while t <= minutes * 60:
        tries += 1
        t += BACKOFF_SECONDS * 2 ** (tries - 1)
    return tries


def _outbox(app: App) -> list[OutboxItem]:
    with app.db.sessions() as s:
        return list(s.scalars(select(OutboxItem).order_by(OutboxItem.id)))


def _pending(app: App) -> int:
    return sum(1 for r in _outbox(app) if r.state == OutboxState.PENDING)
