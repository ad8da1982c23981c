"""``postdesk suppressions list`` / ``lift`` on a real database, through click's runner."""

from __future__ import annotations

from datetime import timedelta

from click.testing import CliRunner, Result
from sqlalchemy import select

from postdesk.gateway.app import App
from postdesk.gateway.cli import main
from postdesk.gateway.settings import Settings
from postdesk.outbound.suppression import suppress, suppressed
from postdesk.store.enums import OutboxState
from postdesk.store.models import OutboxItem
from postdesk.store.suppression_models import Suppression


def run(settings: Settings, *args: str) -> Result:
    env = {
        "POSTDESK_DATA_DIR": str(settings.data_dir),
        "POSTDESK_DATABASE_URL": settings.resolved_database_url,
        "POSTDESK_SUPPORT_ADDRESSES": ",".join(settings.support_addresses),
        "POSTDESK_SECRET_KEY": settings.key_bytes().decode(),
    }
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def _held_back(app: App, email: str, reason: str) -> int:
    with app.db.transaction() as s:
        item = OutboxItem(
            ticket_id=None,
            kind="notification",
            automatic=False,
            mail_from="support@example.com",
            recipients=[email],
            message_id=f"held-{email}",
            raw=b"Subject: x\r\n\r\nx\r\n",
            state=OutboxState.SUPPRESSED,
            last_error=reason,
        )
        s.add(item)
        s.flush()
        return item.id


def test_list_and_lift(settings: Settings, app: App) -> None:
    now = app.clock()
    with app.db.transaction() as s:
        suppress(
            s, "Gone@Client.example", "bounce 5.1.1 user unknown", now + timedelta(days=7), now
        )
        suppress(
            s, "full@client.example", "bounce 5.2.2 mailbox full", now + timedelta(days=2), now
        )
        suppress(s, "old@client.example", "bounce 5.1.1 long ago", now - timedelta(days=1), now)
    held = _held_back(app, "gone@client.example", "gone@client.example: suppressed: bounce 5.1.1")
    _held_back(app, "gone@client.example", "gone@client.example: at most 1 automatic message")

    listed = run(settings, "suppressions", "list")
    assert listed.exit_code == 0
    lines = listed.output.splitlines()
    assert [line.split()[0] for line in lines] == ["gone@client.example", "full@client.example"]
    assert "5.1.1 user unknown" in lines[0]
    assert "old@client.example" in run(settings, "suppressions", "list", "--all").output

    lifted = run(settings, "suppressions", "lift", "GONE@client.example")
    assert lifted.exit_code == 0
    assert "gone@client.example: suppression lifted" in lifted.output
    assert f"postdesk outbox retry {held})\n" in lifted.output  # only the row a bounce held back
    with app.db.sessions() as s:
        assert suppressed(s, ["gone@client.example", "full@client.example"], now) == {
            "full@client.example": "suppressed: bounce 5.2.2 mailbox full"
        }
        assert (
            s.scalar(select(Suppression).where(Suppression.email == "gone@client.example")) is None
        )

    again = CliRunner().invoke(
        main,
        ["suppressions", "lift", "gone@client.example"],
        env={
            "POSTDESK_DATA_DIR": str(settings.data_dir),
            "POSTDESK_DATABASE_URL": settings.resolved_database_url,
        },
    )
    assert again.exit_code == 1
    assert "gone@client.example is not suppressed" in again.output
    assert run(settings, "suppressions", "list").output.split()[0] == "full@client.example"


def test_list_when_empty(settings: Settings, app: App) -> None:
    assert run(settings, "suppressions", "list").output == "no suppressed addresses\n"
