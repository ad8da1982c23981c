"""``postdesk rules dry-run`` prints the matched rules and planned actions and writes nothing."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from postdesk.gateway.app import App
from postdesk.gateway.cli import main
from postdesk.gateway.settings import Settings
from postdesk.store.models import Agent, Base, ClientDomain, ClientOrg
from tests.support.mail import client_mail


def _counts(app: App) -> dict[str, int]:
    with app.db.sessions() as s:
        return {
            t.name: s.scalar(select(func.count()).select_from(t)) or 0
            for t in Base.metadata.sorted_tables
        }


def test_dry_run_prints_the_plan_and_writes_nothing(
    app: App, settings: Settings, tmp_path: Path
) -> None:
    with app.db.transaction() as s:
        csm = Agent(email="carla@example.com", name="Carla", team="support")
        boss = Agent(email="max@example.com", role="manager")
        s.add_all([csm, boss])
        s.flush()
        org = ClientOrg(name="Acme", csm_agent_id=csm.id)
        s.add(org)
        s.flush()
        s.add(ClientDomain(domain="client.example", org_id=org.id))
    mail = tmp_path / "m.eml"
    mail.write_bytes(
        client_mail("Ana <ana@client.example>", "support@example.com", "Refund please", "Hi")
    )
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - name: refunds-tagged\n    events: [ticket.created]\n"
        "    when: [{field: ticket.subject, regex: '(?i)refund'}]\n"
        "    then: [{add_tag: billing}, {set: {priority: P2}}]\n"
    )
    before = _counts(app)
    sink = settings.sink_dir
    env = {
        "POSTDESK_DATA_DIR": str(settings.data_dir),
        "POSTDESK_DATABASE_URL": settings.resolved_database_url,
        "POSTDESK_SECRET_KEY": "test-secret-key-0123456789",
        "POSTDESK_SUPPORT_ADDRESSES": "support@example.com",
    }
    out = CliRunner().invoke(main, ["rules", "dry-run", str(mail), "--rules", str(rules)], env=env)
    assert out.exit_code == 0, out.output
    text = out.output
    assert "classified: normal" in text
    assert "thread:     new" in text
    assert "acknowledge on ticket.created: new ticket from ana@client.example" in text
    assert "refunds-tagged on ticket.created: ticket.subject matches /(?i)refund/" in text
    assert "assign-to-csm on ticket.created" in text
    assert "notify-urgent on priority.changed" in text  # the follow-up event of set priority
    assert "rule:assign-to-csm: assignee None -> carla@example.com" in text
    assert "mail ack to ana@client.example" in text
    assert "notify agent #" in text
    # nothing written: the same row count in every table, no blob, no sink mail
    assert _counts(app) == before
    assert before["tickets"] == 0 and before["inbox"] == 0
    assert not list(settings.blob_dir.rglob("*")) if settings.blob_dir.exists() else True
    assert not sink.exists() or not any(sink.rglob("*.eml"))


def test_dry_run_refuses_a_bad_rules_file(settings: Settings, tmp_path: Path) -> None:
    mail = tmp_path / "m.eml"
    mail.write_bytes(client_mail("ana@client.example", "support@example.com", "x", "y"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - name: b\n    events: [nope]\n    then: [{add_tag: a}]\n")
    env = {
        "POSTDESK_DATA_DIR": str(settings.data_dir),
        "POSTDESK_DATABASE_URL": settings.resolved_database_url,
    }
    out = CliRunner().invoke(main, ["rules", "dry-run", str(mail), "--rules", str(bad)], env=env)
    assert out.exit_code != 0
    assert "rule 'b' (rules[0]) events: unknown event 'nope'" in out.output
