"""The rules file's ``request_document`` action: checked at load, carried out on a real
pipeline (SQLite and PostgreSQL), not repeated while the same documents are open."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from postdesk.gateway.app import App
from postdesk.gateway.settings import Settings
from postdesk.inbound.message import Envelope
from postdesk.rules.loader import RulesError, parse_rules
from postdesk.store.document_models import RequestedDocument
from postdesk.store.models import OutboxItem, Ticket
from tests.support import with_settings
from tests.support.mail import client_mail

RULES = """
defaults: true
rules:
  - name: kyc
    events: [ticket.created, message.received]
    when:
      - {field: ticket.subject, contains: account}
    then:
      - request_document: {names: [Passport, Proof of address], note: "For the new account."}
"""


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("{names: []}", "needs names"),
        ("{names: Passport}", "needs names"),
        ("{names: [A], due: 3}", "takes names and note, not due"),
        ("{names: [A], note: [x]}", "note is text"),
    ],
)
def test_bad_actions_are_refused_with_the_rule_named(action: str, message: str) -> None:
    text = (
        "rules:\n  - name: kyc\n    events: [ticket.created]\n"
        f"    then:\n      - request_document: {action}\n"
    )
    with pytest.raises(RulesError, match=message) as err:
        parse_rules(text)
    assert "kyc" in str(err.value)


def test_a_rule_requests_documents_once(settings: Settings, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    app = App(with_settings(settings, rules_file=rules))
    envelope = Envelope("ana@client.example", ("support@example.com",))
    try:
        app.accept(
            client_mail("ana@client.example", "support@example.com", "New account", "Hi"),
            envelope,
        )
        app.accept(
            client_mail("ana@client.example", "support@example.com", "Re: [#1] New account", "?"),
            envelope,
        )
        with app.db.sessions() as s:
            [status] = s.scalars(select(Ticket.status)).all()
            names = list(s.scalars(select(RequestedDocument.name).order_by(RequestedDocument.id)))
            kinds = list(s.scalars(select(OutboxItem.kind).order_by(OutboxItem.id)))
            raw = s.scalars(
                select(OutboxItem.raw).where(OutboxItem.kind == "document_request")
            ).one()
    finally:
        app.close()
    assert names == ["Passport", "Proof of address"]  # asked once, not again on the reply
    assert status == "new"  # a rule's request leaves the status to the agents
    assert kinds.count("document_request") == 1 and "ack" in kinds
    assert b"For the new account." in raw
