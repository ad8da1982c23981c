"""What never counts as the client's answer to a document request: a bounce of the request
(and, over SMTP in ``test_documents_smtp``, an auto-reply). Real pipeline, both databases."""

from __future__ import annotations

import email.policy
from email.message import EmailMessage

from sqlalchemy import select

from postdesk.gateway.app import App
from postdesk.inbound.message import Envelope
from postdesk.rules.document_flow import request_documents
from postdesk.store.document_models import DocumentRequest
from postdesk.store.models import Message, OutboxItem, Ticket
from tests.gateway.test_loops import delivery_report
from tests.support.mail import client_mail

ENVELOPE = Envelope("ana@client.example", ("support@example.com",))


def test_a_bounce_of_the_request_fills_nothing_and_gets_no_answer(app: App) -> None:
    app.accept(client_mail("ana@client.example", "support@example.com", "Loan", "Hello"), ENVELOPE)
    with app.db.transaction() as s:
        t = s.scalars(select(Ticket)).one()
        request_documents(
            s,
            ident=app.pipeline.ident,
            renderer=app.renderer,
            ticket=t,
            names=["Passport"],
            agent=None,
            actor="cli",
            support=app.settings.support_addresses,
            now=app.clock(),
        )
    with app.db.sessions() as s:
        raw = s.scalars(select(OutboxItem.raw).where(OutboxItem.kind == "document_request")).one()
    sent = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(sent, EmailMessage)
    app.accept(delivery_report(sent, "ana@client.example", "5.2.2"), Envelope("", ENVELOPE.rcpt_to))

    with app.db.sessions() as s:
        assert s.scalars(select(Message.kind).where(Message.direction == "in")).all() == [
            "normal",
            "bounce",
        ]
        request = s.scalars(select(DocumentRequest)).one()
        assert request.fulfilled_at is None
        assert all(d.received_at is None for d in request.documents)
        kinds = set(s.scalars(select(OutboxItem.kind)))
    assert "document_missing" not in kinds
