"""``postdesk message-client`` and ``postdesk docs`` on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from postdesk.gateway.app import App
from postdesk.gateway.cli import main
from postdesk.gateway.settings import Settings
from postdesk.store.models import Agent, OutboxItem, Ticket


def _env(settings: Settings) -> dict[str, str]:
    return {
        "POSTDESK_DATA_DIR": str(settings.data_dir),
        "POSTDESK_DATABASE_URL": settings.resolved_database_url,
        "POSTDESK_SECRET_KEY": "test-secret-key-0123456789",
        "POSTDESK_SUPPORT_ADDRESSES": "support@example.com",
    }


def test_message_client_then_request_and_list(app: App, settings: Settings, tmp_path: Path) -> None:
    with app.db.transaction() as s:
        s.add(Agent(email="carla@example.com", name="Carla"))
    body = tmp_path / "body.txt"
    body.write_text("Hello Ana,\n\nthe new contract is ready.\n")
    runner, env = CliRunner(), _env(settings)
    r = runner.invoke(
        main,
        [
            "message-client",
            "--to",
            "Ana <Ana@Client.example>",
            "--subject",
            "Your new contract",
            "--body-file",
            str(body),
            "--agent",
            "carla@example.com",
        ],
        env=env,
    )
    assert r.exit_code == 0, r.output
    with app.db.sessions() as s:
        t = s.scalars(select(Ticket)).one()
        assert (t.type, t.status, t.origin) == ("conversation", "pending", "agent")
        assert t.assignee is not None and t.assignee.email == "carla@example.com"
        [mail] = s.scalars(select(OutboxItem)).all()
        assert (mail.kind, mail.recipients, mail.automatic) == (
            "client_message",
            ["ana@client.example"],
            False,
        )
        assert b"the new contract is ready" in mail.raw
        assert f"Reply-To: support+{t.id}-".encode() in mail.raw
    assert f"conversation #{t.id} with ana@client.example" in r.output

    r = runner.invoke(main, ["docs", "request", str(t.id), "Signed contract", "ID card"], env=env)
    assert r.exit_code == 0, r.output
    assert "requested 2 document(s)" in r.output
    r = runner.invoke(main, ["docs", "list", str(t.id)], env=env)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].startswith("requested") and "Signed contract" in lines[0]
    assert "ID card" in lines[1] and "asked by cli" in lines[1]
    with app.db.sessions() as s:
        kinds = list(s.scalars(select(OutboxItem.kind).order_by(OutboxItem.id)))
    assert kinds == ["client_message", "document_request"]
    r = runner.invoke(
        main, ["tasks", "add", str(t.id), "--title", "Send the countersigned copy"], env=env
    )
    assert r.exit_code == 0, r.output
    shown = runner.invoke(main, ["tickets", "show", str(t.id)], env=env).output
    assert "document 'Signed contract': missing" in shown and "document 'ID card'" in shown
    assert "[open] Send the countersigned copy" in shown


def test_message_client_with_documents_only(app: App, settings: Settings) -> None:
    r = CliRunner().invoke(
        main,
        [
            "message-client",
            "--to",
            "bob@client.example",
            "--subject",
            "Documents for your account",
            "--request-doc",
            "Passport",
            "--request-doc",
            "Proof of address",
        ],
        env=_env(settings),
    )
    assert r.exit_code == 0, r.output
    assert "requesting 2 document(s)" in r.output
    with app.db.sessions() as s:
        [mail] = s.scalars(select(OutboxItem)).all()
    assert mail.kind == "document_request" and b"- Proof of address" in mail.raw


def test_bad_input_is_answered_clearly(app: App, settings: Settings) -> None:
    runner, env = CliRunner(), _env(settings)
    cases = [
        (
            ["message-client", "--to", "not-an-address", "--subject", "x", "--request-doc", "A"],
            "not an email address",
        ),
        (
            [
                "message-client",
                "--to",
                "support@example.com",
                "--subject",
                "x",
                "--request-doc",
                "A",
            ],
            "one of our own addresses",
        ),
        (["message-client", "--to", "a@client.example", "--subject", "x"], "write a message"),
        (
            ["message-client", "--to", "a@client.example", "--subject", " ", "--request-doc", "A"],
            "a subject is required",
        ),
        (
            [
                "message-client",
                "--to",
                "a@client.example",
                "--subject",
                "x",
                "--request-doc",
                "A",
                "--agent",
                "ghost@example.com",
            ],
            "no active agent",
        ),
        (["docs", "request", "99", "Passport"], "no ticket #99"),
        (["docs", "list", "99"], "no ticket #99"),
    ]
    for args, message in cases:
        r = runner.invoke(main, args, env=env)
        assert r.exit_code == 1, (args, r.output)
        assert message in r.output, (args, r.output)
    with app.db.sessions() as s:
        assert s.scalars(select(Ticket)).all() == []  # nothing half-made
        assert s.scalars(select(OutboxItem)).all() == []
